"""FMix (arXiv:2002.12047): the partner shows through a mask cut from low-frequency Fourier noise.

For each sample, complex Gaussian noise over the image's frequencies is
scaled by `1 / max(f, 1 / max(H, W)) ** fmix_decay_power` (`f` the
frequency in cycles per pixel; default decay 3, as in the paper), and
transformed back to an image of smooth random blobs. Its `round(lam * H *
W)` highest pixels, `lam ~ Beta(fmix_alpha, fmix_alpha)`, stay the image's
own; the partner fills the rest. The label weight of the image is the mask's
exact mean.

The noise is drawn, and the mask computed, only for the samples that use
FMix (float32 throughout: about 3 ms a 224x224 mask).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mixup_sequence.mixers.base import Draw, Mixer, copy, is_real

if TYPE_CHECKING:
    from mixup_sequence.mixing import MixConfig


def spectrum_scale(image_size: tuple[int, int], decay_power: float) -> np.ndarray:
    """The amplitude of each frequency of `np.fft.rfft2`'s layout: `1 / max(f, 1 / max(H, W)) ** decay_power`."""
    height, width = image_size
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.maximum(np.sqrt(fy * fy + fx * fx), 1.0 / max(height, width))
    return (1.0 / freq**decay_power).astype(np.float32)


def fourier_mask(noise: np.ndarray, scale: np.ndarray, lam: float, image_size: tuple[int, int]) -> np.ndarray:
    """Returns the `(H, W)` bool mask: True on the `round(lam * H * W)` highest pixels of the noise's image.

    Args:
        noise: `(H, W // 2 + 1, 2)` float32 standard normal: real and imaginary parts.
        scale: From `spectrum_scale`.
        lam: Target share of True pixels.
        image_size: `(height, width)`.
    """
    height, width = image_size
    spectrum = noise.view(np.complex64)[..., 0] * scale
    field = np.fft.irfft2(spectrum, s=(height, width)).ravel()
    n = field.size
    keep = int(np.rint(lam * n))
    if keep <= 0:
        return np.zeros((height, width), bool)
    if keep >= n:
        return np.ones((height, width), bool)
    threshold = np.partition(field, n - keep)[n - keep]
    return (field >= threshold).reshape(height, width)


def sample(
    config: MixConfig, rng: np.random.Generator, draws: int, image_size: tuple[int, int], used: np.ndarray
) -> Draw:
    """A Beta draw a sample, then the noise of each used sample in turn."""
    height, width = image_size
    lam = rng.beta(config.fmix_alpha, config.fmix_alpha, draws)
    masks = np.zeros((draws, height, width), bool)
    scale = spectrum_scale(image_size, config.fmix_decay_power)
    for row in np.flatnonzero(used):
        noise = rng.standard_normal((height, width // 2 + 1, 2), dtype=np.float32)
        masks[row] = fourier_mask(noise, scale, lam[row], image_size)
        lam[row] = np.count_nonzero(masks[row]) / (height * width)
    return Draw(lam=lam, masks=masks)


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
    """The image, then the partner's pixels wherever `mask` is False (a masked `cv2.copyTo`)."""
    if mask is None:
        raise ValueError("FMix needs the sample's mask (`MixParams.masks`). Received: mask=None")
    copy(dst, image, scale, low)
    theirs = np.logical_not(mask).view(np.uint8)
    if dst.dtype != np.uint8:  # the partner rescaled, as `copy` rescales the image
        partner = cv2.addWeighted(partner, scale, partner, 0.0, low, dtype=cv2.CV_32F)
    # A view with the row's own shape: OpenCV returns (H, W) for one channel.
    cv2.copyTo(partner.reshape(dst.shape), theirs, dst)


def check(config: MixConfig) -> dict[str, Any]:
    """`fmix_alpha >= 0` (0 disables FMix) and `fmix_decay_power > 0`, both finite."""
    for name in ("fmix_alpha", "fmix_decay_power"):
        value = getattr(config, name)
        if not is_real(value):
            raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
    if not np.isfinite(config.fmix_alpha) or config.fmix_alpha < 0:
        raise ValueError(
            f"`fmix_alpha` must be a finite number >= 0 (0 disables FMix). Received: fmix_alpha={config.fmix_alpha}"
        )
    if not np.isfinite(config.fmix_decay_power) or config.fmix_decay_power <= 0:
        raise ValueError(
            f"`fmix_decay_power` must be a finite number > 0. Received: fmix_decay_power={config.fmix_decay_power}"
        )
    return {}


MIXER = Mixer("fmix", sample, apply, enabled_by="fmix_alpha", check=check)
