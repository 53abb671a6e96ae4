"""Batch mixing: mixup (arXiv:1710.09412) and CutMix (arXiv:1905.04899).

Sample, then apply. `sample_mix_params` draws every random number a batch
needs from one generator and returns them as a plain `MixParams`;
`apply_mix` is deterministic and turns a uint8 batch, its integer labels
and those parameters into float images and soft labels. Tests feed
hand-written parameters to `apply_mix` and check exact values.

For sample `i` with partner `p = partner[i]` and weight `lam = lam[i]`:

- mixup: `x_i = lam * img_i + (1 - lam) * img_p`, `lam ~ Beta(mixup_alpha, mixup_alpha)`;
- CutMix: `img_i` with the box `boxes[i]` (clipped to the image) pasted from
  `img_p`; `lam` is the exact share of `img_i`'s pixels kept;
- either way the label is `lam * onehot(y_i) + (1 - lam) * onehot(y_p)`, so the
  weight on each class equals the share of the sample that came from it,
  then label smoothing: `y * (1 - eps) + eps / num_classes`.

Each image's pixels are handled by one C-level call (`cv2.addWeighted`
into a slice of the output, float32 or uint8); `benchmarks/bench_mixing.py` measures it
against whole-batch NumPy arithmetic, which needs full-size temporaries,
in the same run (1.5x faster on a 64x224x224x3 batch here).
"""

from __future__ import annotations

import dataclasses
import numbers

import cv2
import numpy as np

NONE, MIXUP, CUTMIX = 0, 1, 2
MIX_MODES = ("sample", "batch")


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """How a batch is mixed.

    The field defaults are the library's defaults (mixup with
    `mixup_alpha=0.2`, no CutMix); `MixupSequence` and the command line take
    theirs from here.

    Attributes:
        mixup_alpha: Beta parameter of mixup's `lam`; 0 disables mixup.
        cutmix_alpha: Beta parameter of CutMix's `lam`; 0 disables CutMix.
        switch_prob: When both are enabled, the chance that a sample uses
            CutMix rather than mixup.
        mix_prob: The chance that a sample is mixed at all.
        label_smoothing: `eps` in `y * (1 - eps) + eps / num_classes`.
        mix_mode: `"sample"` (a `lam`, method and box per sample) or
            `"batch"` (one of each for the whole batch).
    """

    mixup_alpha: float = 0.2
    cutmix_alpha: float = 0.0
    switch_prob: float = 0.5
    mix_prob: float = 1.0
    label_smoothing: float = 0.0
    mix_mode: str = "sample"

    def __post_init__(self) -> None:
        for name in ("mixup_alpha", "cutmix_alpha", "switch_prob", "mix_prob", "label_smoothing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
        for name in ("mixup_alpha", "cutmix_alpha"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"`{name}` must be a finite number >= 0 (0 disables it). Received: {name}={value}")
        for name in ("switch_prob", "mix_prob", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value}")
        if self.mix_mode not in MIX_MODES:
            raise ValueError(f"`mix_mode` must be one of {MIX_MODES}. Received: mix_mode={self.mix_mode!r}")

    @property
    def enabled(self) -> bool:
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.mix_prob > 0


@dataclasses.dataclass(frozen=True)
class MixParams:
    """The random choices for one batch.

    Attributes:
        lam: `(B,)` float64, the weight (share of pixels) of each sample's own image.
        partner: `(B,)` int64, row of the partner image in the partner batch.
        method: `(B,)` int8, `NONE`, `MIXUP` or `CUTMIX`.
        boxes: `(B, 4)` int64 CutMix boxes `(y0, y1, x0, x1)`, half-open; zeros elsewhere.
    """

    lam: np.ndarray
    partner: np.ndarray
    method: np.ndarray
    boxes: np.ndarray

    @classmethod
    def identity(cls, batch_size: int) -> MixParams:
        """Parameters that leave every sample unmixed."""
        return cls(
            lam=np.ones(batch_size),
            partner=np.arange(batch_size, dtype=np.int64),
            method=np.zeros(batch_size, dtype=np.int8),
            boxes=np.zeros((batch_size, 4), dtype=np.int64),
        )


def smooth_labels(y: np.ndarray, label_smoothing: float, num_classes: int) -> np.ndarray:
    """`y * (1 - eps) + eps / num_classes`, as Keras' categorical cross-entropy does."""
    if not label_smoothing:
        return y
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes


def mix_multi_hot(
    labels: np.ndarray,
    partner_labels: np.ndarray,
    params: MixParams,
    label_smoothing: float = 0.0,
) -> np.ndarray:
    """Returns `(B, num_classes)` float32 targets for mixed multi-label samples (sigmoid outputs).

    `y = lam * y_i + (1 - lam) * y_p` from the multi-hot rows, each class
    weighted by the share of the sample that came from an image that has it
    (a class both images have keeps weight 1); not renormalised. Then label
    smoothing as Keras' binary cross-entropy applies it:
    `y * (1 - eps) + eps / 2`.

    Args:
        labels: `(B, num_classes)` multi-hot rows of the batch's samples.
        partner_labels: Multi-hot rows that `params.partner` indexes.
        params: The batch's `MixParams`.
        label_smoothing: `eps`.
    """
    lam = params.lam[:, None]
    y = lam * labels + (1.0 - lam) * partner_labels[params.partner]
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y.astype(np.float32)


def cyclic_partners(rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """Returns a random permutation with no fixed point (for a batch of 2+).

    Rows are put in a random cycle and each is paired with the next one, so
    every image is mixed with a different image and used once as a partner.
    """
    order = rng.permutation(batch_size)
    partner = np.empty(batch_size, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    return partner


def cutmix_boxes(
    lam: np.ndarray, center_y: np.ndarray, center_x: np.ndarray, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Returns clipped boxes of area `~(1 - lam) * H * W` and the exact kept share.

    Args:
        lam: Target share of pixels kept, per sample.
        center_y, center_x: Box centres as fractions in [0, 1).
        image_size: `(height, width)`.
    """
    height, width = image_size
    ratio = np.sqrt(1.0 - lam)
    cut_h = (height * ratio).astype(np.int64)
    cut_w = (width * ratio).astype(np.int64)
    cy = (center_y * height).astype(np.int64)
    cx = (center_x * width).astype(np.int64)
    y0 = np.clip(cy - cut_h // 2, 0, height)
    y1 = np.clip(cy - cut_h // 2 + cut_h, 0, height)
    x0 = np.clip(cx - cut_w // 2, 0, width)
    x1 = np.clip(cx - cut_w // 2 + cut_w, 0, width)
    boxes = np.stack([y0, y1, x0, x1], axis=1)
    kept = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
    return boxes, kept


def sample_mix_params(
    config: MixConfig,
    rng: np.random.Generator,
    batch_size: int,
    image_size: tuple[int, int],
    pair_within_batch: bool = True,
) -> MixParams:
    """Draws the mixing parameters of one batch from `rng`.

    Args:
        config: A `MixConfig`.
        rng: The batch's own generator.
        batch_size: Rows in this batch (the last batch may be short).
        image_size: `(height, width)`.
        pair_within_batch: If True, partners are a fixed-point-free
            permutation of the batch; if False, row `i` is paired with row `i`
            of a separately decoded partner batch.
    """
    n = batch_size
    rows = np.arange(n, dtype=np.int64)
    partner = cyclic_partners(rng, n) if pair_within_batch else rows.copy()
    draws = 1 if config.mix_mode == "batch" else n
    u_mix = rng.random(draws)
    u_switch = rng.random(draws)
    lam_mixup = rng.beta(config.mixup_alpha, config.mixup_alpha, draws) if config.mixup_alpha > 0 else np.ones(draws)
    lam_cut = rng.beta(config.cutmix_alpha, config.cutmix_alpha, draws) if config.cutmix_alpha > 0 else np.ones(draws)
    center = rng.random((2, draws))
    if draws == 1:
        u_mix, u_switch, lam_mixup, lam_cut = (np.repeat(a, n) for a in (u_mix, u_switch, lam_mixup, lam_cut))
        center = np.repeat(center, n, axis=1)

    use_mixup, use_cutmix = config.mixup_alpha > 0, config.cutmix_alpha > 0
    cut = np.full(n, use_cutmix) & (~np.full(n, use_mixup) | (u_switch < config.switch_prob))
    mixed = (u_mix < config.mix_prob) & (use_mixup or use_cutmix) & (partner != rows if pair_within_batch else True)
    method = np.where(mixed, np.where(cut, CUTMIX, MIXUP), NONE).astype(np.int8)

    boxes, kept = cutmix_boxes(lam_cut, center[0], center[1], image_size)
    boxes[method != CUTMIX] = 0
    lam = np.where(method == MIXUP, lam_mixup, np.where(method == CUTMIX, kept, 1.0))
    return MixParams(lam=lam, partner=partner, method=method, boxes=boxes)


def mix_labels(
    labels: np.ndarray,
    partner_labels: np.ndarray,
    params: MixParams,
    num_classes: int,
    label_smoothing: float = 0.0,
) -> np.ndarray:
    """Returns `(B, num_classes)` float32 soft labels for mixed samples.

    Multi-hot `(B, num_classes)` labels (multi-label data) go to `mix_multi_hot`.
    """
    if labels.ndim == 2:
        return mix_multi_hot(labels, partner_labels, params, label_smoothing)
    n = len(labels)
    rows = np.arange(n)
    y = np.zeros((n, num_classes), dtype=np.float64)
    np.add.at(y, (rows, labels), params.lam)
    np.add.at(y, (rows, partner_labels[params.partner]), 1.0 - params.lam)
    return smooth_labels(y, label_smoothing, num_classes).astype(np.float32)


def mix_row(
    dst: np.ndarray,
    image: np.ndarray,
    partner_image: np.ndarray,
    lam: float,
    method: int,
    box: np.ndarray,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> None:
    """Writes one sample: uint8 `image` mixed with `partner_image` into `dst`.

    `lam`, `method` and `box` are the sample's entries of a `MixParams`.
    Into a float32 `dst`, pixels are rescaled so that uint8 0 maps to `low`
    and 255 to `high`. Into a uint8 `dst` (`value_range` is then (0, 255)),
    they are not rescaled, and a mixup pixel is rounded to the nearest
    integer (ties to even); CutMix and unmixed pixels are copied exactly.
    """
    if dst.dtype == np.uint8:
        if method == MIXUP:
            cv2.addWeighted(image, lam, partner_image, 1.0 - lam, 0.0, dst=dst)
        else:
            np.copyto(dst, image)
            if method == CUTMIX:
                y0, y1, x0, x1 = box
                dst[y0:y1, x0:x1] = partner_image[y0:y1, x0:x1]
        return
    low, high = value_range
    scale = (high - low) / 255.0
    if method == MIXUP:
        cv2.addWeighted(image, lam * scale, partner_image, (1.0 - lam) * scale, low, dst=dst, dtype=cv2.CV_32F)
    else:
        cv2.addWeighted(image, scale, image, 0.0, low, dst=dst, dtype=cv2.CV_32F)
        if method == CUTMIX:
            y0, y1, x0, x1 = box
            np.multiply(partner_image[y0:y1, x0:x1], np.float32(scale), out=dst[y0:y1, x0:x1])
            if low:
                dst[y0:y1, x0:x1] += np.float32(low)
    # Float32 rounding of the weights can overshoot `high` by an ulp (255 * float32(1/255) > 1).
    # cv2.min on a one-channel view is twice as fast as np.minimum (a scalar would only reach
    # the first channel of a 3-channel array).
    flat = dst.reshape(dst.shape[0], -1)
    cv2.min(flat, high, dst=flat)  # type: ignore[call-overload]  # the stubs omit scalars


def mix_images(
    images: np.ndarray,
    partner_images: np.ndarray,
    params: MixParams,
    value_range: tuple[float, float] = (0.0, 1.0),
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Mixes a uint8 batch into float32 (or `out`'s dtype), rescaled to `value_range` (`mix_row` on each row).

    Args:
        images: `(B, H, W, C)` uint8.
        partner_images: uint8 batch that `params.partner` indexes (the same
            array as `images` when pairing within the batch).
        params: From `sample_mix_params` (or written by hand).
        value_range: `(low, high)`: uint8 0 maps to `low`, 255 to `high`.
        out: Optional float32 or uint8 output of the same shape, written in place.

    Returns:
        The mixed batch (`out` if given).
    """
    if out is None:
        out = np.empty(images.shape, dtype=np.float32)
    for i in range(len(images)):
        other = partner_images[params.partner[i]]
        mix_row(out[i], images[i], other, params.lam[i], params.method[i], params.boxes[i], value_range)
    return out
