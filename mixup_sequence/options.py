"""Validation of the loader's arguments, done before any disk access."""

from __future__ import annotations

import dataclasses
import multiprocessing
import numbers
import os

from mixup_sequence.decode import COLOR_MODES, DEFAULT_MAX_PIXELS, INTERPOLATIONS
from mixup_sequence.split import SUBSETS

PAIRINGS = ("batch", "dataset")
DTYPES = ("float32", "uint8")
ON_ERROR = ("raise", "skip")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class LoaderOptions:
    """Everything about a loader except the files and the mixing.

    See `ImageFolderSequence` for the meaning of each field.
    """

    batch_size: int = 32
    image_size: tuple[int, int] = (256, 256)
    color_mode: str = "rgb"
    interpolation: str = "area"
    validation_split: float | None = None
    subset: str | None = None
    shuffle: bool = True
    drop_remainder: bool = False
    value_range: tuple[float, float] | None = None
    dtype: str = "float32"
    pairing: str = "batch"
    on_error: str = "raise"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    shard_index: int = 0
    num_shards: int = 1

    def __post_init__(self) -> None:
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={self.batch_size!r}")
        size = self.image_size
        if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(_is_int(s) and s > 0 for s in size):
            raise ValueError(
                f"`image_size` must be a tuple of two positive integers (height, width). Received: image_size={size!r}"
            )
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        if self.color_mode not in COLOR_MODES:
            raise ValueError(
                f"`color_mode` must be one of {tuple(COLOR_MODES)}. Received: color_mode={self.color_mode!r}"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {tuple(INTERPOLATIONS)}. "
                f"Received: interpolation={self.interpolation!r}"
            )
        split, subset = self.validation_split, self.subset
        if split is not None and not (isinstance(split, numbers.Real) and 0 < split < 1):
            raise ValueError(f"`validation_split` must be a number in (0, 1). Received: validation_split={split!r}")
        if subset is not None and subset not in SUBSETS:
            raise ValueError(f"`subset` must be one of {SUBSETS}. Received: subset={subset!r}")
        if (split is None) != (subset is None):
            raise ValueError(
                "`validation_split` and `subset` must be given together (or neither). "
                f"Received: validation_split={split!r}, subset={subset!r}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"`dtype` must be one of {DTYPES}. Received: dtype={self.dtype!r}")
        full = (0.0, 255.0) if self.dtype == "uint8" else (0.0, 1.0)
        low_high = full if self.value_range is None else self.value_range
        if (
            not isinstance(low_high, (tuple, list))
            or len(low_high) != 2
            or not all(isinstance(v, numbers.Real) for v in low_high)
            or not low_high[0] < low_high[1]
        ):
            raise ValueError(
                f"`value_range` must be a pair (low, high) with low < high, e.g. (0, 1) or (0, 255). "
                f"Received: value_range={low_high!r}"
            )
        low_high = (float(low_high[0]), float(low_high[1]))
        if self.dtype == "uint8" and low_high != full:
            raise ValueError(
                f'With `dtype="uint8"`, `value_range` must be None or (0, 255): uint8 pixels are not rescaled. '
                f"Received: value_range={self.value_range!r}"
            )
        object.__setattr__(self, "value_range", low_high)
        if self.pairing not in PAIRINGS:
            raise ValueError(f"`pairing` must be one of {PAIRINGS}. Received: pairing={self.pairing!r}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"`on_error` must be one of {ON_ERROR}. Received: on_error={self.on_error!r}")
        if self.max_pixels is not None and (not _is_int(self.max_pixels) or self.max_pixels < 1):
            raise ValueError(f"`max_pixels` must be None or an integer >= 1. Received: max_pixels={self.max_pixels!r}")
        if not _is_int(self.num_shards) or self.num_shards < 1:
            raise ValueError(f"`num_shards` must be an integer >= 1. Received: num_shards={self.num_shards!r}")
        if not _is_int(self.shard_index) or not 0 <= self.shard_index < self.num_shards:
            raise ValueError(
                f"`shard_index` must be an integer in [0, num_shards={self.num_shards}). "
                f"Received: shard_index={self.shard_index!r}"
            )
        for name in ("shuffle", "drop_remainder"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be a bool. Received: {name}={getattr(self, name)!r}")


def check_seed(seed: object) -> None:
    if seed is not None and (not _is_int(seed) or int(seed) < 0):  # type: ignore[call-overload]
        raise ValueError(f"`seed` must be None or an integer >= 0. Received: seed={seed!r}")


def check_keras_arguments(
    directory: object,
    class_names: object,
    follow_links: object,
    workers: object,
    use_multiprocessing: object,
    max_queue_size: object,
    start_method: object,
) -> None:
    """Checks the Sequence's remaining arguments (types only; no disk access)."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"`directory` must be a path (str or os.PathLike). Received: directory={directory!r}")
    if class_names is not None:
        if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):  # type: ignore[attr-defined]
            raise TypeError(f"`class_names` must be a list of folder names. Received: class_names={class_names!r}")
        names = list(class_names)  # type: ignore[call-overload]
        if len(set(names)) != len(names) or not names:
            raise ValueError(
                f"`class_names` must be a non-empty list without duplicates. Received: class_names={names!r}"
            )
    for name, value in (("follow_links", follow_links), ("use_multiprocessing", use_multiprocessing)):
        if not isinstance(value, bool):
            raise TypeError(f"`{name}` must be a bool. Received: {name}={value!r}")
    if not _is_int(workers) or workers < 0:  # type: ignore[operator]
        raise ValueError(f"`workers` must be an integer >= 0. Received: workers={workers!r}")
    if not _is_int(max_queue_size) or max_queue_size < 1:  # type: ignore[operator]
        raise ValueError(f"`max_queue_size` must be an integer >= 1. Received: max_queue_size={max_queue_size!r}")
    methods = multiprocessing.get_all_start_methods()
    if start_method is not None and start_method not in methods:
        raise ValueError(f"`start_method` must be None or one of {methods}. Received: start_method={start_method!r}")


def check_cache(cache: object) -> None:
    """Checks the `cache` argument: None or a directory path (no disk access)."""
    if cache is not None and (not isinstance(cache, (str, os.PathLike)) or not os.fspath(cache)):
        raise TypeError(f"`cache` must be None or a directory path (str or os.PathLike). Received: cache={cache!r}")
