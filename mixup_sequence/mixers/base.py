"""The mixer interface: a `sample` step, an `apply` step, and the pixel writes they share.

`sample(config, rng, draws, image_size, used)` draws a mixer's parameters
for `draws` samples from the batch's generator and returns them as a `Draw`
of plain arrays: `lam`, the exact share of each sample that stays its own
(the weight of its own label), and, if the mixer needs them, `boxes` (one
rectangle a sample) or `masks` (one pixel mask a sample). `used` tells
which draws will use the mixer, so a costly one (FMix's mask) can skip the
others; since `used` itself comes from the same generator, the draws stay a
pure function of the batch's key either way.

`apply(dst, image, partner, lam, box, mask, scale, low)` is deterministic:
it writes one row into `dst` from the uint8 `image` and `partner`. Into a
float32 `dst` a pixel `p` becomes `p * scale + low`; into a uint8 `dst`
(`scale=1`, `low=0`) pixels are copied, and blended ones rounded. Exactly
`lam` of the row comes from `image`: its pixels outside the box or mask,
or its weight in a blend. `copy` and `paste` are the writes most mixers
are made of.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from mixup_sequence.mixing import MixConfig


@dataclasses.dataclass(frozen=True)
class Draw:
    """One mixer's parameters for `draws` samples.

    Attributes:
        lam: `(draws,)` float64, the share of each sample that stays its own.
        boxes: `(draws, 4)` int64 rectangles `(y0, y1, x0, x1)`, half-open, or None.
        masks: `(draws, height, width)` bool, True where a pixel stays the
            sample's own, or None.
    """

    lam: np.ndarray
    boxes: np.ndarray | None = None
    masks: np.ndarray | None = None


SampleFn = Callable[["MixConfig", np.random.Generator, int, "tuple[int, int]", np.ndarray], Draw]
ApplyFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, "np.ndarray | None", float, float], None]


@dataclasses.dataclass(frozen=True)
class Mixer:
    """A mixer as the registry lists it.

    Attributes:
        name: Its name in `MixConfig.mixer_probs` (`"mixup"`, `"fmix"`, ...).
        sample: Draws its parameters (see the module docstring).
        apply: Writes one row (see the module docstring).
        enabled_by: The `MixConfig` field that switches it off when 0
            (`"mixup_alpha"`), or None if it is always available.
        check: Validates its own `MixConfig` fields; returns the normalised
            values to store (e.g. a list made a tuple), or an empty dict.
    """

    name: str
    sample: SampleFn
    apply: ApplyFn
    enabled_by: str | None = None
    check: Callable[[MixConfig], Mapping[str, Any]] | None = None

    def enabled(self, config: MixConfig) -> bool:
        return self.enabled_by is None or getattr(config, self.enabled_by) > 0


def is_real(value: object) -> bool:
    """Whether `value` is a real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def copy(dst: np.ndarray, image: np.ndarray, scale: float, low: float) -> None:
    """Writes `image` unmixed into `dst`: one `cv2.addWeighted` into float32, a copy into uint8."""
    if dst.dtype == np.uint8:
        np.copyto(dst, image)
    else:
        cv2.addWeighted(image, scale, image, 0.0, low, dst=dst, dtype=cv2.CV_32F)


def paste(dst: np.ndarray, src: np.ndarray, scale: float, low: float) -> None:
    """Writes the uint8 `src` into `dst` (a region of a row, of the same shape), rescaled."""
    if dst.dtype == np.uint8:
        dst[...] = src
        return
    np.multiply(src, np.float32(scale), out=dst)
    if low:
        dst += np.float32(low)
