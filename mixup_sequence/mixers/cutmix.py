"""CutMix (arXiv:1905.04899): a box of the partner pasted over the image.

The box has area `~(1 - lam) * H * W` for `lam ~ Beta(cutmix_alpha,
cutmix_alpha)`, a uniformly drawn centre, and is clipped to the image; the
label weight is the exact share of the image's pixels left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixup_sequence.mixers.base import Draw, Mixer, copy, paste

if TYPE_CHECKING:
    from mixup_sequence.mixing import MixConfig


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


def sample(
    config: MixConfig, rng: np.random.Generator, draws: int, image_size: tuple[int, int], used: np.ndarray
) -> Draw:
    """A Beta draw a sample, then the box centres (y row, x row)."""
    lam = rng.beta(config.cutmix_alpha, config.cutmix_alpha, draws)
    center = rng.random((2, draws))
    boxes, kept = cutmix_boxes(lam, center[0], center[1], image_size)
    return Draw(lam=kept, boxes=boxes)


def apply(
    dst: np.ndarray,
    image: np.ndarray,
    partner: np.ndarray,
    lam: float,
    box: np.ndarray,
    mask: np.ndarray | None,
    scale: float,
    low: float,
) -> None:
    """The image, then the partner's pixels of the box pasted at the same place."""
    copy(dst, image, scale, low)
    y0, y1, x0, x1 = box
    paste(dst[y0:y1, x0:x1], partner[y0:y1, x0:x1], scale, low)


MIXER = Mixer("cutmix", sample, apply, enabled_by="cutmix_alpha")
