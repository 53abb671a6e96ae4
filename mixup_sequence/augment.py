"""The augmentation hook: run a user's per-image transform reproducibly.

`augment` is an Albumentations transform (usually an `A.Compose`) or any
callable that takes a uint8 HWC image and returns a uint8 image of the
same shape. A callable that has a parameter named `rng` receives the sample's own
`numpy.random.Generator`; otherwise it must be deterministic. With
`augment_input="decoded"` the input is the decoded image at its own size and
the output must be `image_size` (the pipeline crops or resizes).

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

    def apply(
        self,
        image: np.ndarray,
        state: tuple[np.random.Generator, random.Random | None],
        shape: tuple[int, ...] | None = None,
        source: str | Callable[[], str] | None = None,
    ) -> np.ndarray:
        """Returns the augmented image for a `state` from `prepare`.

        Args:
            image: The uint8 HWC input.
            state: From `prepare`.
            shape: The shape the output must have, for a pipeline that crops
                or resizes (`augment_input="decoded"`); None: `image`'s shape.
            source: The file the image came from, named in errors (or a
                function that returns it, called only for an error).

        Raises:
            ValueError: The output is not uint8, or not of the expected shape.
        """
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
        expected = image.shape if shape is None else tuple(shape)
        if out.dtype != np.uint8 or out.shape != expected:
            name = source() if callable(source) else source
            raise ValueError(output_error(image.shape, expected, out, shape is not None, name))
        return out

    def __repr__(self) -> str:
        return f"Augmenter({self.augment!r})"


def output_error(
    received: tuple[int, ...], expected: tuple[int, ...], out: np.ndarray, decoded: bool, source: str | None
) -> str:
    """The message for a pipeline output of the wrong dtype or shape: what to change, then what came back."""
    of = f" for {source!r}" if source else ""
    got = f"Received: {out.dtype} {out.shape} from an input of {received}{of}"
    if out.dtype != np.uint8:
        return (
            "`augment` must return uint8 pixels: the loader mixes uint8 images and scales them to `value_range` "
            "itself. If the pipeline ends with A.Normalize (or A.ToFloat), remove it and pass mean= and std= to "
            "the sequence instead: x = (x - mean) / std is then applied to the float32 batch after mixing, with "
            "x in `value_range` (A.Normalize()'s defaults are mean=(0.485, 0.456, 0.406), "
            f"std=(0.229, 0.224, 0.225) with the default value_range=(0, 1)). {got}"
        )
    if decoded:
        return (
            '`augment` must return a uint8 image of exactly `image_size` with augment_input="decoded". Expected: '
            f"{expected}. It receives each image as decoded, at the file's own size (a large JPEG at the reduced "
            "scale that still covers `image_size`), so the pipeline must crop or resize to `image_size`, e.g. "
            f"end it with A.RandomResizedCrop(size={expected[:2]}) or A.Resize({expected[0]}, {expected[1]}); or "
            f'use augment_input="resized" (the default) to receive images already resized. {got}'
        )
    return (
        "`augment` must return a uint8 image of the same shape as its input, which is already resized to "
        f"`image_size`. Expected: {expected}. To crop or resize inside the pipeline (e.g. A.RandomResizedCrop, "
        'the ImageNet recipe), pass augment_input="decoded": the pipeline then receives the decoded image and '
        f"returns `image_size` itself. {got}"
    )
