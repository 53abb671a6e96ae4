"""mixup (arXiv:1710.09412): `x = lam * image + (1 - lam) * partner`, `lam ~ Beta(mixup_alpha, mixup_alpha)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from mixup_sequence.mixers.base import Draw, Mixer

if TYPE_CHECKING:
    from mixup_sequence.mixing import MixConfig


def sample(
    config: MixConfig, rng: np.random.Generator, draws: int, image_size: tuple[int, int], used: np.ndarray
) -> Draw:
    """One Beta draw a sample, used or not (the draw order of every mixup configuration so far)."""
    return Draw(lam=rng.beta(config.mixup_alpha, config.mixup_alpha, draws))


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
    """The whole row in one `cv2.addWeighted` (rounded to nearest, ties to even, into uint8)."""
    depth = -1 if dst.dtype == np.uint8 else cv2.CV_32F
    cv2.addWeighted(image, lam * scale, partner, (1.0 - lam) * scale, low, dst=dst, dtype=depth)


MIXER = Mixer("mixup", sample, apply, enabled_by="mixup_alpha")
