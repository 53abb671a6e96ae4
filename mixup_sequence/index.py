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


@dataclasses.dataclass(frozen=True, eq=False)
class FolderIndex:
    """The images of a class-folder tree.

    Attributes:
        directory: The root directory that was indexed.
        class_names: Class names, in label order.
        filepaths: Absolute-or-as-given paths of the images, a NumPy string
            array, sorted by class and then by path within the class.
        labels: Integer label of each image (`int32`).
    """

    directory: str
    class_names: tuple[str, ...]
    filepaths: np.ndarray
    labels: np.ndarray

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
        return len(self.filepaths)

    def relative_paths(self) -> list[str]:
        """Paths relative to `directory`, with `/` separators."""
        root = self.directory
        return [os.path.relpath(p, root).replace(os.sep, "/") for p in self.filepaths]

    def take(self, indices: np.ndarray) -> FolderIndex:
        """Returns the index restricted to `indices` (kept in the given order)."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(self, filepaths=self.filepaths[indices], labels=self.labels[indices])

    def __repr__(self) -> str:
        return (
            f"FolderIndex(directory={self.directory!r}, samples={self.samples}, class_names={list(self.class_names)!r})"
        )


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_images(top: str, follow_links: bool) -> list[str]:
    """Returns the image paths under `top`, sorted, skipping hidden entries.

    Directories are identified by `(st_dev, st_ino)` so that a symlink loop
    is visited once instead of recursing until the path is too long.
    """
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
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
                    if _is_hidden(entry.name):
                        continue
                    if entry.is_dir(follow_symlinks=follow_links):
                        stack.append(entry.path)
                    elif entry.name.lower().endswith(ALLOWED_FORMATS) and entry.is_file(follow_symlinks=True):
                        found.append(entry.path)
        except OSError:
            continue
    # Sort by the path inside the class folder, with "/" so nesting sorts alike everywhere.
    found.sort(key=lambda p: os.path.relpath(p, top).replace(os.sep, "/"))
    return found


def list_class_folders(directory: str, follow_links: bool = False) -> list[str]:
    """Returns the sorted, non-hidden sub-folder names of `directory`."""
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Directory not found. Received: directory={directory!r}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Expected a directory of class folders. Received: directory={directory!r}")
    names = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not _is_hidden(entry.name) and entry.is_dir(follow_symlinks=follow_links):
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
        follow_links: Whether to descend into symlinked folders.

    Returns:
        A `FolderIndex`.

    Raises:
        FileNotFoundError: The directory is missing, has no class folders, or
            some classes hold no images (all of them are named).
        ValueError: `class_names` names a folder that does not exist.
    """
    directory = os.fspath(directory)
    available = list_class_folders(directory, follow_links)
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
    per_class = [_walk_images(os.path.join(directory, n), follow_links) for n in names]
    empty = [n for n, files in zip(names, per_class) if not files]
    if empty:
        raise FileNotFoundError(
            f"No images found in class folder(s) {empty} of {directory!r}. "
            f"Allowed formats: {', '.join(ALLOWED_FORMATS)} (any case)."
        )
    filepaths = np.array([p for files in per_class for p in files], dtype=str)
    labels = np.repeat(np.arange(len(names), dtype=np.int32), [len(f) for f in per_class])
    return FolderIndex(directory=directory, class_names=tuple(names), filepaths=filepaths, labels=labels)
