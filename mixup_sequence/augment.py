"""The augmentation hook: run a user's per-image transform reproducibly.

`augment` is an Albumentations transform (usually an `A.Compose`) or any
callable that takes a uint8 HWC image and returns one of the same shape.
A callable that has a parameter named `rng` receives the sample's own
`numpy.random.Generator`; otherwise it must be deterministic.

Each sample's draws come from a generator keyed by `(seed, epoch, index)`.
For Albumentations, that generator (and a `random.Random` seeded from it)
is installed with `set_random_state` before each call, so sibling
transforms draw one after another from one stream (independently), unlike
`set_random_seed`, which gives every child the same seed. Each thread uses
its own deep copy of the pipeline, so threads never share random state.
"""

from __future__ import annotations

import copy
import inspect
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from mixup_sequence import _rng
from mixup_sequence._threads import PerThread


def _accepts_rng(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "rng" in params


class Augmenter(PerThread):
    """Applies `augment` to one image with an explicit generator.

    Args:
        augment: An Albumentations transform or a callable (see module docs).
    """

    def __init__(self, augment: Callable[..., Any]):
        if not callable(augment):
            raise TypeError(
                "`augment` must be an Albumentations transform or a callable that takes "
                f"a uint8 HWC image. Received: augment={augment!r}"
            )
        super().__init__()
        self.augment = augment
        self._is_albumentations = hasattr(augment, "set_random_state")
        self._wants_rng = not self._is_albumentations and _accepts_rng(augment)

    def _pipeline(self) -> Any:
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is None:
            pipeline = copy.deepcopy(self.augment)
            self._local.pipeline = pipeline
        return pipeline

    def prepare(self, rng: np.random.Generator) -> tuple[np.random.Generator, random.Random | None]:
        """Returns what `apply` needs to augment one image with the draws of `rng`.

        Making these for a whole batch in one go is cheaper than one at a time
        between images (the generator code stays in the CPU's caches); the
        draws are the same either way.
        """
        return rng, _rng.py_random(rng) if self._is_albumentations else None

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns the augmented image; raises `ValueError` on a bad result."""
        return self.apply(image, self.prepare(rng))

    def apply(self, image: np.ndarray, state: tuple[np.random.Generator, random.Random | None]) -> np.ndarray:
        """Returns the augmented image for a `state` from `prepare`."""
        rng, py_random = state
        if self._is_albumentations:
            pipeline = self._pipeline()
            pipeline.set_random_state(rng, py_random)
            out = pipeline(image=image)["image"]
        elif self._wants_rng:
            out = self.augment(image, rng=rng)
        else:
            out = self.augment(image)
        out = np.asarray(out)
        if out.ndim == 2 and image.shape[2] == 1:
            out = out[:, :, None]
        if out.shape != image.shape or out.dtype != np.uint8:
            raise ValueError(
                "`augment` must return a uint8 image of the same shape as its input "
                f"(resize and crop to `image_size` inside the pipeline). Expected: "
                f"uint8 {image.shape}. Received: {out.dtype} {out.shape}"
            )
        return out

    def __repr__(self) -> str:
        return f"Augmenter({self.augment!r})"
