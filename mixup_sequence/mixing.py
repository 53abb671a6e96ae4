"""Batch mixing: mixup, CutMix, ResizeMix and FMix; the settings and the per-batch draw.

Sample, then apply. `sample_mix_params` draws every random number a batch
needs from one generator and returns them as a plain `MixParams`;
`mix_row` is deterministic and writes one row from a uint8 image, its
partner and its entries of those parameters. Tests feed hand-written
parameters to `mix_row` and check exact values. Each mixer is a module of
`mixup_sequence/mixers/` (its own `sample` and `apply`), listed in
`mixers.REGISTRY`:

- mixup (arXiv:1710.09412): `x_i = lam * img_i + (1 - lam) * img_p`, `lam ~ Beta(mixup_alpha, mixup_alpha)`;
- CutMix (arXiv:1905.04899): a box of `img_p` pasted over `img_i`;
- ResizeMix (arXiv:2012.11101): the whole `img_p`, shrunk, pasted over `img_i`;
- FMix (arXiv:2002.12047): `img_p` through a mask cut from low-frequency Fourier noise.

For sample `i` with partner `p = partner[i]`, `lam = lam[i]` is the exact
share of `img_i` in the row (its weight, or its pixels left), and the label
is `lam * onehot(y_i) + (1 - lam) * onehot(y_p)`, so the weight on each class
equals the share of the sample that came from it; then label smoothing:
`y * (1 - eps) + eps / num_classes`.

Each image's pixels are handled by C-level calls (mixup: one
`cv2.addWeighted` into a slice of the output, float32 or uint8);
`benchmarks/bench_mixing.py` measures it against whole-batch NumPy
arithmetic, which needs full-size temporaries, in the same run (1.5x
faster on a 64x224x224x3 batch here).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import cv2
import numpy as np

from mixup_sequence import mixers
from mixup_sequence.mixers import base

NONE = 0
MIXUP, CUTMIX, RESIZEMIX, FMIX = (mixers.code(name) for name in ("mixup", "cutmix", "resizemix", "fmix"))
MIX_MODES = ("sample", "batch")
# Fields a schedule may not set: itself, and the epoch mixing stops at.
_UNSCHEDULED = ("mix_schedule", "mix_off_epoch")


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
            CutMix rather than mixup (without `mixer_probs`).
        mix_prob: The chance that a sample is mixed at all.
        label_smoothing: `eps` in `y * (1 - eps) + eps / num_classes`.
        mix_mode: `"sample"` (a `lam`, method and box per sample) or
            `"batch"` (one of each for the whole batch).
        mixer_probs: None: mixup and/or CutMix, as enabled by their alphas,
            split by `switch_prob`. Or `{name: probability}` over the
            mixers of `mixers.NAMES` (`"mixup"`, `"cutmix"`, `"resizemix"`,
            `"fmix"`), summing to 1: the chance that a mixed sample uses
            each; it then replaces `switch_prob`. Stored as `(name,
            probability)` pairs in registry order.
        resizemix_scale: `(low, high)`: ResizeMix shrinks the partner's
            sides by `tau ~ U(low, high)`.
        fmix_alpha: Beta parameter of FMix's `lam`; 0 disables FMix.
        fmix_decay_power: How fast FMix's noise spectrum decays with
            frequency; higher gives smoother, blobbier masks.
        mix_off_epoch: Mixing stops from this epoch on (timm's
            `mixup_off_epoch`): later batches are unmixed, one-hot (label
            smoothing still applies). None: never.
        mix_schedule: None, or a function of the epoch that returns a dict
            of fields to override in that epoch, e.g.
            `schedules.Linear(0, 10, mixup_alpha=(0.0, 0.4))`. It must be a
            pure function of the epoch (batches prefetched into the next
            epoch use it too), and picklable (a module-level function or a
            `schedules` object) for spawn and forkserver worker processes.
            `at_epoch(e)` gives the settings in force in epoch `e`.
    """

    mixup_alpha: float = 0.2
    cutmix_alpha: float = 0.0
    switch_prob: float = 0.5
    mix_prob: float = 1.0
    label_smoothing: float = 0.0
    mix_mode: str = "sample"
    mixer_probs: Mapping[str, float] | Iterable[tuple[str, float]] | None = None
    resizemix_scale: tuple[float, float] = (0.1, 0.8)
    fmix_alpha: float = 1.0
    fmix_decay_power: float = 3.0
    mix_off_epoch: int | None = None
    mix_schedule: Callable[[int], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        for name in ("mixup_alpha", "cutmix_alpha", "switch_prob", "mix_prob", "label_smoothing"):
            value = getattr(self, name)
            if not base.is_real(value):
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
        for mixer in mixers.REGISTRY:
            for name, value in (mixer.check(self) if mixer.check is not None else {}).items():
                object.__setattr__(self, name, value)
        if self.mixer_probs is not None:
            object.__setattr__(self, "mixer_probs", self._checked_mixer_probs())
        off = self.mix_off_epoch
        if off is not None and (not isinstance(off, numbers.Integral) or isinstance(off, bool)):
            raise TypeError(f"`mix_off_epoch` must be None or an integer >= 0. Received: mix_off_epoch={off!r}")
        if off is not None and off < 0:
            raise ValueError(f"`mix_off_epoch` must be None or an integer >= 0. Received: mix_off_epoch={off!r}")
        if self.mix_schedule is not None:
            if not callable(self.mix_schedule):
                raise TypeError(
                    "`mix_schedule` must be None or a function of the epoch that returns a dict of MixConfig "
                    f"fields to override. Received: mix_schedule={self.mix_schedule!r}"
                )
            self.at_epoch(0)  # a schedule that fails, fails here, before any batch

    def _checked_mixer_probs(self) -> tuple[tuple[str, float], ...]:
        value = self.mixer_probs
        received = f"Received: mixer_probs={value!r}"
        pairs: list[Any] = list(value.items()) if isinstance(value, Mapping) else []
        if not isinstance(value, Mapping):
            try:
                pairs = [(name, p) for name, p in cast("Iterable[Any]", value)]
            except (TypeError, ValueError):
                raise TypeError(
                    f"`mixer_probs` must be None or a dict of mixer name -> probability. {received}"
                ) from None
        probs: dict[str, float] = {}
        for name, p in pairs:
            if name not in mixers.NAMES:
                raise ValueError(f"`mixer_probs` names an unknown mixer {name!r}: expected {mixers.NAMES}. {received}")
            if name in probs:
                raise ValueError(f"`mixer_probs` names {name!r} twice. {received}")
            if not base.is_real(p):
                raise TypeError(f"`mixer_probs` must map each mixer to a number. {received}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"`mixer_probs` must hold probabilities in [0, 1]. {received}")
            mixer = mixers.get(name)
            if p > 0 and not mixer.enabled(self):
                raise ValueError(
                    f"`mixer_probs` gives {name!r} a probability, but "
                    f"{mixer.enabled_by}={getattr(self, str(mixer.enabled_by))} disables it. {received}"
                )
            probs[name] = float(p)
        if not math.isclose(sum(probs.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"`mixer_probs` must sum to 1. {received}")
        if self.switch_prob != MixConfig.switch_prob:
            raise ValueError(
                "`switch_prob` applies only without `mixer_probs` (which gives every mixer's probability). "
                f"Received: switch_prob={self.switch_prob}, mixer_probs={value!r}"
            )
        return tuple((name, probs[name]) for name in mixers.NAMES if name in probs)

    @property
    def choices(self) -> tuple[tuple[str, float], ...]:
        """`(name, probability)` of each mixer a mixed sample may use, in registry order."""
        if self.mixer_probs is not None:
            pairs = cast("tuple[tuple[str, float], ...]", self.mixer_probs)  # normalised in __post_init__
            return tuple((name, p) for name, p in pairs if p > 0)
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            return (("mixup", 1.0 - self.switch_prob), ("cutmix", self.switch_prob))
        if self.mixup_alpha > 0:
            return (("mixup", 1.0),)
        return (("cutmix", 1.0),) if self.cutmix_alpha > 0 else ()

    @property
    def enabled(self) -> bool:
        """Whether any sample can be mixed (in every epoch, for a config without schedule)."""
        return bool(self.choices) and self.mix_prob > 0

    def at_epoch(self, epoch: int) -> MixConfig:
        """Returns the settings in force in `epoch`, without schedule.

        The schedule's overrides for `epoch` are applied, then, from
        `mix_off_epoch` on, `mix_prob=0`. A pure function of `epoch`.
        """
        if self.mix_schedule is None and self.mix_off_epoch is None:
            return self
        changes: dict[str, Any] = {"mix_schedule": None, "mix_off_epoch": None}
        overrides: Any = None
        if self.mix_schedule is not None:
            overrides = self.mix_schedule(epoch)
            if not isinstance(overrides, Mapping):
                raise TypeError(
                    "`mix_schedule` must return a dict of MixConfig fields to override. "
                    f"Received: mix_schedule({epoch})={overrides!r}"
                )
            settable = [f.name for f in dataclasses.fields(self) if f.name not in _UNSCHEDULED]
            unknown = sorted(str(k) for k in overrides if k not in settable)
            if unknown:
                raise ValueError(
                    f"`mix_schedule` may set only MixConfig fields {settable}; {unknown} are not among them. "
                    f"Received: mix_schedule({epoch})={dict(overrides)!r}"
                )
            changes.update(overrides)
        if self.mix_off_epoch is not None and epoch >= self.mix_off_epoch:
            changes["mix_prob"] = 0.0
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as e:
            e.add_note(f"In epoch {epoch}, with mix_schedule({epoch})={overrides!r}.")
            raise

    def __getstate__(self) -> dict[str, Any]:
        if self.mix_schedule is not None:
            import pickle

            try:
                pickle.dumps(self.mix_schedule)
            except Exception as e:
                raise TypeError(
                    "`mix_schedule` must be picklable to reach worker processes started with spawn or forkserver "
                    "(a module-level function or a `mixup_sequence.schedules` object, not a lambda or a local "
                    f"function). Received: mix_schedule={self.mix_schedule!r} ({type(e).__name__}: {e})"
                ) from e
        return dict(self.__dict__)


@dataclasses.dataclass(frozen=True)
class MixParams:
    """The random choices for one batch.

    Attributes:
        lam: `(B,)` float64, the share of each sample that stays its own
            (its weight, or its pixels left).
        partner: `(B,)` int64, row of the partner image in the partner batch.
        method: `(B,)` int8: `NONE`, or the mixer's code (`MIXUP`, `CUTMIX`,
            `RESIZEMIX`, `FMIX`; `mixers.code(name)`).
        boxes: `(B, 4)` int64 boxes `(y0, y1, x0, x1)`, half-open, of the
            mixers that paste a rectangle (CutMix, ResizeMix); zeros elsewhere.
        masks: `(B, H, W)` bool, True where a pixel stays the sample's own,
            for the mixers that mix by mask (FMix), or None if none does;
            meaningful only in rows of such a mixer.
    """

    lam: np.ndarray
    partner: np.ndarray
    method: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray | None = None

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


def sample_mix_params(
    config: MixConfig,
    rng: np.random.Generator,
    batch_size: int,
    image_size: tuple[int, int],
    pair_within_batch: bool = True,
) -> MixParams:
    """Draws the mixing parameters of one batch from `rng`.

    In order: the partners; per sample (or once, with `mix_mode="batch"`)
    `u_mix` (mixed if `u_mix < mix_prob`) and `u_choice`; then each mixer in
    `config.choices` draws its own parameters, in registry order. The mixers
    take consecutive parts of [0, 1) for `u_choice`, from the bottom in
    reverse registry order: with mixup and CutMix, CutMix takes `u_choice <
    switch_prob` (timm's rule), mixup the rest.

    Args:
        config: A `MixConfig` (without schedule: see `MixConfig.at_epoch`).
        rng: The batch's own generator.
        batch_size: Rows in this batch (the last batch may be short).
        image_size: `(height, width)`.
        pair_within_batch: If True, partners are a fixed-point-free
            permutation of the batch; if False, row `i` is paired with row `i`
            of a separately decoded partner batch.
    """
    if config.mix_schedule is not None or config.mix_off_epoch is not None:
        raise ValueError(
            "`sample_mix_params` takes one epoch's settings: pass `config.at_epoch(epoch)`. "
            f"Received: mix_schedule={config.mix_schedule!r}, mix_off_epoch={config.mix_off_epoch!r}"
        )
    n = batch_size
    rows = np.arange(n, dtype=np.int64)
    partner = cyclic_partners(rng, n) if pair_within_batch else rows.copy()
    draws = 1 if config.mix_mode == "batch" else n
    u_mix = rng.random(draws)
    u_choice = rng.random(draws)
    choices = config.choices
    method = np.zeros(n, dtype=np.int8)
    lam = np.ones(n)
    boxes = np.zeros((n, 4), dtype=np.int64)
    masks: np.ndarray | None = None
    if not choices:
        return MixParams(lam=lam, partner=partner, method=method, boxes=boxes)
    # Mixer k takes u_choice in [sum of the probabilities after it, that + its own).
    probs = np.array([p for _, p in choices])
    lows = np.append(np.cumsum(probs[::-1])[::-1][1:], 0.0)
    codes = np.array([mixers.code(name) for name, _ in choices], dtype=np.int8)
    chosen = codes[np.argmax(u_choice[:, None] >= lows[None, :], axis=1)]
    mixed = u_mix < config.mix_prob
    if draws == 1:
        chosen, mixed = np.repeat(chosen, n), np.repeat(mixed, n)
    if pair_within_batch:
        mixed &= partner != rows
    method[mixed] = chosen[mixed]

    for name, _ in choices:
        own = method == mixers.code(name)
        used = own if draws == n else own.any(keepdims=True)
        draw = mixers.get(name).sample(config, rng, draws, image_size, used)
        lam[own] = (draw.lam if draws == n else np.repeat(draw.lam, n))[own]
        if draw.boxes is not None:
            boxes[own] = (draw.boxes if draws == n else np.repeat(draw.boxes, n, axis=0))[own]
        if draw.masks is not None:
            drawn = draw.masks if draws == n else np.broadcast_to(draw.masks, (n, *draw.masks.shape[1:]))
            if masks is None:
                masks = drawn
            else:  # a second mixer with masks: each keeps its own rows
                masks = np.array(masks)
                masks[own] = drawn[own]
    return MixParams(lam=lam, partner=partner, method=method, boxes=boxes, masks=masks)


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


def _unmixed(
    dst: np.ndarray,
    image: np.ndarray,
    partner: np.ndarray,
    lam: float,
    box: np.ndarray,
    mask: np.ndarray | None,
    scale: float,
    low: float,
) -> None:
    base.copy(dst, image, scale, low)


# The apply step of each method: `_APPLY[method]`.
_APPLY: tuple[base.ApplyFn, ...] = (_unmixed, *(mixer.apply for mixer in mixers.REGISTRY))


def mix_row(
    dst: np.ndarray,
    image: np.ndarray,
    partner_image: np.ndarray,
    lam: float,
    method: int,
    box: np.ndarray,
    value_range: tuple[float, float] = (0.0, 1.0),
    mask: np.ndarray | None = None,
) -> None:
    """Writes one sample: uint8 `image` mixed with `partner_image` into `dst`.

    `lam`, `method`, `box` and `mask` are the sample's entries of a
    `MixParams` (`mask` only for a mixer that mixes by mask). Into a float32
    `dst`, pixels are rescaled so that uint8 0 maps to `low` and 255 to
    `high`. Into a uint8 `dst` (`value_range` is then (0, 255)), they are not
    rescaled, and a mixup pixel is rounded to the nearest integer (ties to
    even); pasted, masked and unmixed pixels are copied exactly.
    """
    if dst.dtype == np.uint8:
        _APPLY[method](dst, image, partner_image, lam, box, mask, 1.0, 0.0)
        return
    low, high = value_range
    _APPLY[method](dst, image, partner_image, lam, box, mask, (high - low) / 255.0, low)
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
    masks = params.masks
    for i in range(len(images)):
        other = partner_images[params.partner[i]]
        mask = None if masks is None else masks[i]
        mix_row(out[i], images[i], other, params.lam[i], params.method[i], params.boxes[i], value_range, mask)
    return out
