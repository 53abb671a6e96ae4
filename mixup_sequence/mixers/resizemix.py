"""ResizeMix (arXiv:2012.11101): the whole partner, shrunk, pasted over the image.

The partner is resized by a factor `tau ~ U(low, high)` of each side
(`resizemix_scale`, default (0.1, 0.8) as in the paper), to
`floor(tau * H) x floor(tau * W)` pixels with OpenCV's area filter (by
`decode.resize`: `cv2.resize`'s pixels, faster), and pasted at a uniformly
drawn position where it fits whole. The label weight of the image is the
exact share of its pixels left, `1 - h * w / (H * W)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixup_sequence.decode import resize
from mixup_sequence.mixers.base import Draw, Mixer, copy, is_real, paste

if TYPE_CHECKING:
    from mixup_sequence.mixing import MixConfig


def paste_boxes(
    tau: np.ndarray, pos_y: np.ndarray, pos_x: np.ndarray, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the boxes `(y0, y1, x0, x1)` a partner shrunk by `tau` is pasted into, and the kept share.

    Args:
        tau: Side scale of the pasted partner, per sample, in [0, 1].
        pos_y, pos_x: Position as fractions in [0, 1) of the room left.
        image_size: `(height, width)`.
    """
    height, width = image_size
    h = np.minimum((tau * height).astype(np.int64), height)
    w = np.minimum((tau * width).astype(np.int64), width)
    y0 = (pos_y * (height - h + 1)).astype(np.int64)
    x0 = (pos_x * (width - w + 1)).astype(np.int64)
    boxes = np.stack([y0, y0 + h, x0, x0 + w], axis=1)
    kept = 1.0 - h * w / float(height * width)
    return boxes, kept


def sample(
    config: MixConfig, rng: np.random.Generator, draws: int, image_size: tuple[int, int], used: np.ndarray
) -> Draw:
    """The scale of each sample's partner, then its position (y row, x row)."""
    low, high = config.resizemix_scale
    tau = low + (high - low) * rng.random(draws)
    pos = rng.random((2, draws))
    boxes, kept = paste_boxes(tau, pos[0], pos[1], image_size)
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
    """The image, then the partner resized to the box and pasted into it."""
    copy(dst, image, scale, low)
    y0, y1, x0, x1 = (int(v) for v in box)
    if y1 <= y0 or x1 <= x0:
        return
    paste(dst[y0:y1, x0:x1], resize(partner, (y1 - y0, x1 - x0), "area"), scale, low)


def check(config: MixConfig) -> dict[str, Any]:
    """`resizemix_scale` is `(low, high)` with `0 <= low <= high <= 1`."""
    value = config.resizemix_scale
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(
            f"`resizemix_scale` must be a pair (low, high) of side scales. Received: resizemix_scale={value!r}"
        )
    if not all(is_real(v) for v in value):
        raise TypeError(f"`resizemix_scale` must be a pair of numbers. Received: resizemix_scale={value!r}")
    low, high = float(value[0]), float(value[1])
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(
            f"`resizemix_scale` must be (low, high) with 0 <= low <= high <= 1. Received: resizemix_scale={value!r}"
        )
    return {"resizemix_scale": (low, high)}


MIXER = Mixer("resizemix", sample, apply, check=check)
