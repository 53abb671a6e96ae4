"""A source: what the samples are (their files, labels and class names).

A `Source` holds each sample's path, packed into one blob of the file
system's bytes with offsets (no per-file Python objects, so a large source
is small in memory and cheap to pickle into worker processes), its label,
and the class names. A path is stored relative to `directory`, with "/"
separators, or as given when `directory` is None (absolute paths from a
CSV, say). The stored path is the sample's *key*: what the seed-free split
hashes (`split.py`) and what the image cache names records by (`cache.py`),
so the same file listed relative to the same directory has the same key
whichever source lists it.

Labels are one class per sample (`labels`: int32 `(n,)`), or for
multi-label data a set of classes per sample (`labels`: uint8 multi-hot
`(n, num_classes)`, `n * num_classes` bytes).

The sources, one module each, all returning a `Source`:

- class folders: `index.index_directory` (a `FolderIndex`, which also
  counts what the walk left out);
- paths and labels: `source_paths.paths_source`;
- a data frame: `source_dataframe.dataframe_source`.

A new kind of source is one more module that builds a `Source` with
`Source.from_keys`, and a constructor on the sequences that passes it as
their first argument (see `ImageFolderSequence.from_paths`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()

_S = TypeVar("_S", bound="Source")


def pack_paths(paths: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """Packs paths into one blob of file-system bytes and `n + 1` offsets (no per-file objects)."""
    lengths = [len(p) for p in paths]
    blob = "".join(paths).encode(_FS_ENCODING, _FS_ERRORS)
    if len(blob) != sum(lengths):  # some character takes several bytes: measure each path
        lengths = [len(p.encode(_FS_ENCODING, _FS_ERRORS)) for p in paths]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return blob, offsets


def as_label_array(labels: np.ndarray) -> np.ndarray:
    """Labels in a source's dtype: int32 class ids `(n,)`, or uint8 multi-hot `(n, num_classes)`."""
    labels = np.asarray(labels)
    return labels.astype(np.uint8 if labels.ndim == 2 else np.int32, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class Source:
    """The samples: paths, labels and class names.

    Attributes:
        directory: The folder that keys are relative to, or None when keys
            are the paths themselves (absolute, or relative to the working
            directory).
        class_names: Class names, in label order.
        labels: int32 `(samples,)` class ids; or, for multi-label data,
            uint8 `(samples, num_classes)` multi-hot rows.
    """

    directory: str | None
    class_names: tuple[str, ...]
    labels: np.ndarray
    _blob: bytes
    _offsets: np.ndarray

    def __post_init__(self) -> None:
        labels = self.labels
        if labels.ndim not in (1, 2) or len(labels) != len(self._offsets) - 1:
            raise ValueError(
                f"A source needs one label (or one multi-hot row) per path: {len(self._offsets) - 1} paths. "
                f"Received: labels of shape {labels.shape}"
            )
        if labels.ndim == 2 and labels.shape[1] != len(self.class_names):
            raise ValueError(
                f"Multi-hot labels need one column per class ({len(self.class_names)} class names). "
                f"Received: labels of shape {labels.shape}"
            )

    @classmethod
    def from_keys(
        cls,
        directory: str | None,
        class_names: Sequence[str],
        keys: Sequence[str],
        labels: np.ndarray,
    ) -> Source:
        """Builds a source from keys: paths relative to `directory` ("/" separators), or full paths if it is None."""
        blob, offsets = pack_paths(keys)
        return cls(directory, tuple(class_names), as_label_array(labels), blob, offsets)

    @property
    def multi_label(self) -> bool:
        """Whether each sample has a set of classes (multi-hot `labels`) rather than one."""
        return self.labels.ndim == 2

    @property
    def class_indices(self) -> dict[str, int]:
        """Maps each class name to its integer label."""
        return {name: i for i, name in enumerate(self.class_names)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def samples(self) -> int:
        """The number of samples."""
        return len(self.labels)

    def key_bytes(self, k: int) -> bytes:
        """Sample `k`'s key as the file system's bytes (what the split hashes and the cache names records by)."""
        return self._blob[self._offsets[k] : self._offsets[k + 1]]

    def key(self, k: int) -> str:
        """Sample `k`'s key: its path relative to `directory` ("/" separators), or its path if that is None."""
        return self.key_bytes(k).decode(_FS_ENCODING, _FS_ERRORS)

    def keys(self) -> list[str]:
        return [self.key(k) for k in range(self.samples)]

    def path(self, k: int) -> str:
        """Path of sample `k`'s file (`directory` joined with its key)."""
        key = self.key(k)
        if self.directory is None:
            return key
        return os.path.join(self.directory, *key.split("/"))

    @property
    def filepaths(self) -> np.ndarray:
        """All paths as a NumPy string array (built on each access)."""
        return np.array([self.path(k) for k in range(self.samples)], dtype=str)

    def take(self: _S, indices: np.ndarray) -> _S:
        """Returns the source restricted to `indices` (kept in the given order), of the same kind."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, ends = self._offsets[indices], self._offsets[indices + 1]
        blob = b"".join([self._blob[s:e] for s, e in zip(starts.tolist(), ends.tolist())])
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        return dataclasses.replace(self, labels=self.labels[indices], _blob=blob, _offsets=offsets)  # type: ignore[misc]

    def same_labels(self, k: int) -> np.ndarray:
        """Positions of the other samples with exactly sample `k`'s class (or, multi-label, its set of classes)."""
        same = self.labels == self.labels[k]
        if self.multi_label:
            same = same.all(axis=1)
        same[k] = False
        return np.flatnonzero(same)

    def describe_labels(self, k: int) -> str:
        """Sample `k`'s labels in words: `"class 'cat'"`, or `"labels ['cat', 'dog']"` (multi-label)."""
        if self.multi_label:
            return f"labels {[self.class_names[c] for c in np.flatnonzero(self.labels[k])]!r}"
        return f"class {self.class_names[self.labels[k]]!r}"

    def __repr__(self) -> str:
        kind = ", multi_label=True" if self.multi_label else ""
        return (
            f"{type(self).__name__}(directory={self.directory!r}, samples={self.samples}, "
            f"class_names={list(self.class_names)!r}{kind})"
        )
