"""Folder index: one sub-folder per class, images found recursively.

The index is the only stage that walks the disk. It records every image's
path and integer label in two NumPy arrays (no per-file Python objects are
kept), sorted so that the same tree always gives the same index.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

ALLOWED_FORMATS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def _pack(relative_paths: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """Packs paths into one UTF-8 blob and `n + 1` offsets (no per-file objects)."""
    encoded = [p.encode("utf-8") for p in relative_paths]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return b"".join(encoded), offsets


@dataclasses.dataclass(frozen=True, eq=False)
class FolderIndex:
    """The images of a class-folder tree.

    Paths are stored relative to `directory`, packed into one UTF-8 blob
    with offsets, so a large index is small in memory and cheap to pickle
    into worker processes.

    Attributes:
        directory: The root directory that was indexed.
        class_names: Class names, in label order.
        labels: Integer label of each image (`int32`), sorted by class and
            then by path within the class.
    """

    directory: str
    class_names: tuple[str, ...]
    labels: np.ndarray
    _blob: bytes
    _offsets: np.ndarray

    @classmethod
    def from_paths(
        cls, directory: str, class_names: Sequence[str], relative_paths: Sequence[str], labels: np.ndarray
    ) -> FolderIndex:
        """Builds an index from paths relative to `directory` (with "/" separators)."""
        blob, offsets = _pack(relative_paths)
        return cls(directory, tuple(class_names), np.asarray(labels, dtype=np.int32), blob, offsets)

    @property
    def class_indices(self) -> dict[str, int]:
        """Maps each class name to its integer label."""
        return {name: i for i, name in enumerate(self.class_names)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def samples(self) -> int:
        """The number of images."""
        return len(self.labels)

    def relative_path(self, k: int) -> str:
        """Path of image `k` relative to `directory`, with "/" separators."""
        return self._blob[self._offsets[k] : self._offsets[k + 1]].decode("utf-8")

    def path(self, k: int) -> str:
        """Path of image `k` (`directory` joined with its relative path)."""
        return os.path.join(self.directory, *self.relative_path(k).split("/"))

    def relative_paths(self) -> list[str]:
        return [self.relative_path(k) for k in range(self.samples)]

    @property
    def filepaths(self) -> np.ndarray:
        """All image paths as a NumPy string array (built on each access)."""
        return np.array([self.path(k) for k in range(self.samples)], dtype=str)

    def take(self, indices: np.ndarray) -> FolderIndex:
        """Returns the index restricted to `indices` (kept in the given order)."""
        indices = np.asarray(indices, dtype=np.int64)
        paths = [self.relative_path(int(k)) for k in indices]
        return FolderIndex.from_paths(self.directory, self.class_names, paths, self.labels[indices])

    def __repr__(self) -> str:
        return (
            f"FolderIndex(directory={self.directory!r}, samples={self.samples}, class_names={list(self.class_names)!r})"
        )


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_images(root: str, class_name: str, follow_links: bool) -> list[str]:
    """Returns the image paths under `root/class_name`, relative to `root`, sorted.

    Hidden files and folders are skipped.

    Directories are identified by `(st_dev, st_ino)` so that a symlink loop
    is visited once instead of recursing until the path is too long.
    """
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [(os.path.join(root, class_name), class_name + "/")]  # (folder, its path relative to root)
    while stack:
        folder, prefix = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if _is_hidden(name):
                        continue
                    if entry.is_dir(follow_symlinks=follow_links):
                        stack.append((entry.path, prefix + name + "/"))
                    elif name.lower().endswith(ALLOWED_FORMATS) and entry.is_file(follow_symlinks=True):
                        found.append(prefix + name)
        except OSError:
            continue
    found.sort()  # "/" separators: nesting sorts alike on every platform
    return found


def list_class_folders(directory: str) -> list[str]:
    """Returns the sorted, non-hidden sub-folder names of `directory`."""
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Directory not found. Received: directory={directory!r}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Expected a directory of class folders. Received: directory={directory!r}")
    names = []
    with os.scandir(directory) as entries:
        for entry in entries:
            # As in Keras, a symlinked class folder counts; `follow_links` governs sub-folders.
            if not _is_hidden(entry.name) and entry.is_dir(follow_symlinks=True):
                names.append(entry.name)
    return sorted(names)


def index_directory(
    directory: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    follow_links: bool = False,
) -> FolderIndex:
    """Indexes a directory with one sub-folder per class.

    Classes are the sorted sub-folder names, or `class_names` (a subset, in
    the order given). Images in nested folders under a class count. Files
    with the extensions in `ALLOWED_FORMATS` (any case) are images; hidden
    files and folders (name starting with ".") are skipped.

    Args:
        directory: Root of the tree.
        class_names: Optional class folders to use, in label order.
        follow_links: Whether to descend into symlinked sub-folders of a
            class (symlinked class folders themselves always count, as in Keras).

    Returns:
        A `FolderIndex`.

    Raises:
        FileNotFoundError: The directory is missing, has no class folders, or
            some classes hold no images (all of them are named).
        ValueError: `class_names` names a folder that does not exist.
    """
    directory = os.fspath(directory)
    available = list_class_folders(directory)
    if class_names is None:
        if not available:
            raise FileNotFoundError(
                f"Expected one sub-folder per class in {directory!r}, found none "
                f"(hidden folders are skipped). Received: directory={directory!r}"
            )
        names = available
    else:
        names = list(class_names)
        missing = [n for n in names if n not in available]
        if missing:
            raise ValueError(
                f"`class_names` must name sub-folders of {directory!r} (available: {available}). "
                f"Missing: {missing}. Received: class_names={names}"
            )
    per_class = [_walk_images(directory, n, follow_links) for n in names]
    empty = [n for n, files in zip(names, per_class) if not files]
    if empty:
        raise FileNotFoundError(
            f"No images found in class folder(s) {empty} of {directory!r}. "
            f"Allowed formats: {', '.join(ALLOWED_FORMATS)} (any case)."
        )
    labels = np.repeat(np.arange(len(names), dtype=np.int32), [len(f) for f in per_class])
    return FolderIndex.from_paths(directory, names, [p for files in per_class for p in files], labels)
