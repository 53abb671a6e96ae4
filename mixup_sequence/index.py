"""Folder index: one sub-folder per class, images found recursively.

The index is the only stage that walks the disk. It records every image's
path and integer label in two NumPy arrays (no per-file Python objects are
kept), sorted so that the same tree always gives the same index, and counts
what it leaves out (other extensions, hidden entries, images outside any
class folder, ...) so that nothing is dropped without a word.

File names are kept as the file system gives them: a name that is not valid
UTF-8 (`caf\\xe9.png` from an old archive) is a `str` with surrogate escapes
(`os.fsdecode`), and its bytes are what the index stores and the split hashes.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import os
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from mixup_sequence.source import Source, pack_paths

logger = logging.getLogger("mixup_sequence")

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""The extensions of the files indexed as images, in any case: Keras' `image_dataset_from_directory`
formats (bmp, gif, jpeg, jpg, png), plus tif, tiff and webp."""

# Why an entry under `directory` is not in the index, in the order reports list them.
SKIP_REASONS: Mapping[str, str] = {
    "unlabeled": "images directly under the directory, in no class folder",
    "extension": "files with another extension",
    "hidden": "hidden files and folders (name starting with '.')",
    "link": "symlinked sub-folders, not followed (follow_links=False)",
    "alias": "folders met again through another path (indexed once, under the first path)",
    "special": "broken symlinks and entries that are neither files nor folders",
    "unreadable": "folders that could not be listed",
}

# Examples kept per reason (the smallest paths, so the same tree gives the same examples).
SKIP_EXAMPLES = 5

_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def display_path(path: str) -> str:
    """`path` printable on any terminal: bytes that are not UTF-8 are shown as `\\xe9`."""
    return path.encode(_FS_ENCODING, _FS_ERRORS).decode("utf-8", "backslashreplace")


@dataclasses.dataclass(frozen=True)
class Skipped:
    """What indexing left out, by reason (see `SKIP_REASONS`).

    Attributes:
        counts: Number of entries per reason, for the reasons that occurred.
        examples: A few paths (relative to the directory, "/" separators)
            per reason: the smallest in sort order.
    """

    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    examples: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, reason: str) -> int:
        return self.counts.get(reason, 0)

    def describe(self, reasons: Sequence[str] | None = None) -> list[str]:
        """One line per reason: `'files with another extension: 3 (a/x.txt, a/y.csv, ...)'`."""
        lines = []
        for reason in SKIP_REASONS if reasons is None else reasons:
            n = self.counts.get(reason, 0)
            if n:
                shown = ", ".join(display_path(p) for p in self.examples.get(reason, ()))
                more = ", ..." if n > len(self.examples.get(reason, ())) else ""
                lines.append(f"{SKIP_REASONS[reason]}: {n} ({shown}{more})")
        return lines


class _SkipCounter:
    """Counts skipped entries and keeps the `SKIP_EXAMPLES` smallest paths of each reason."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, path: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < SKIP_EXAMPLES or path < kept[-1]:
            bisect.insort(kept, path)
            del kept[SKIP_EXAMPLES:]

    def result(self) -> Skipped:
        order = [r for r in SKIP_REASONS if r in self.counts]
        return Skipped({r: self.counts[r] for r in order}, {r: tuple(self.examples[r]) for r in order})


@dataclasses.dataclass(frozen=True, eq=False)
class FolderIndex(Source):
    """The images of a class-folder tree: the folder source.

    Keys are paths relative to `directory` ("/" separators), packed into one
    blob of the file system's bytes with offsets (see `source.Source`).

    Attributes:
        directory: The root directory that was indexed.
        class_names: Class names, in label order.
        labels: Integer label of each image (`int32`), sorted by class and
            then by path within the class.
        skipped: What the walk left out, by reason (a `Skipped`).
    """

    directory: str
    skipped: Skipped = dataclasses.field(default_factory=Skipped)

    @classmethod
    def from_paths(
        cls,
        directory: str,
        class_names: Sequence[str],
        relative_paths: Sequence[str],
        labels: np.ndarray,
        skipped: Skipped | None = None,
    ) -> FolderIndex:
        """Builds an index from paths relative to `directory` (with "/" separators)."""
        blob, offsets = pack_paths(relative_paths)
        labels = np.asarray(labels, dtype=np.int32)
        return cls(directory, tuple(class_names), labels, blob, offsets, skipped or Skipped())

    def relative_path_bytes(self, k: int) -> bytes:
        """Path of image `k` relative to `directory`, as the file system's bytes (its key)."""
        return self.key_bytes(k)

    def relative_path(self, k: int) -> str:
        """Path of image `k` relative to `directory`, with "/" separators (its key)."""
        return self.key(k)

    def relative_paths(self) -> list[str]:
        return self.keys()

    def layout_warnings(self) -> list[str]:
        """Signs that `directory` is not the folder of class folders it should be.

        Images directly under `directory` (in no class folder), and a single
        class (every label the same, so nothing to learn).
        """
        found = []
        parent = os.path.dirname(os.path.abspath(self.directory))
        loose = self.skipped.count("unlabeled")
        if loose:
            found.append(
                f"{loose} image{'s' if loose > 1 else ''} directly in '{display_path(self.directory)}', in no class "
                f"folder, {'are' if loose > 1 else 'is'} not indexed (e.g. "
                f"'{display_path(self.skipped.examples['unlabeled'][0])}'). If that folder is itself "
                f"one class, pass its parent ('{display_path(parent)}') as `directory`; otherwise move them into "
                "their class folders."
            )
        if self.num_classes == 1:
            found.append(
                f"Only one class ('{display_path(self.class_names[0])}') in '{display_path(self.directory)}': every "
                "sample gets the same label. Pass the folder whose sub-folders are the classes as `directory` "
                f"(the parent, '{display_path(parent)}'?)."
            )
        return found

    def __repr__(self) -> str:
        return (
            f"FolderIndex(directory={self.directory!r}, samples={self.samples}, "
            f"class_names={list(self.class_names)!r}, skipped={self.skipped.total})"
        )


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_images(root: str, class_name: str, follow_links: bool, skipped: _SkipCounter) -> list[str]:
    """Returns the image paths under `root/class_name`, relative to `root`, sorted.

    Depth first, each folder's sub-folders in sorted order. Folders are
    identified by `(st_dev, st_ino)`: one met again through another path (a
    symlink loop, or a link beside its target) is skipped, so it is indexed
    under the first of its paths in that order, whatever order the file
    system lists entries in.
    """
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [(os.path.join(root, class_name), class_name + "/")]  # (folder, its path relative to root)
    while stack:
        folder, prefix = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            skipped.add("unreadable", prefix[:-1])
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            skipped.add("alias", prefix[:-1])
            continue
        seen.add(key)
        folders = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if _is_hidden(name):
                        skipped.add("hidden", prefix + name)
                    elif entry.is_dir(follow_symlinks=follow_links):
                        folders.append(name)
                    elif entry.is_file(follow_symlinks=True):
                        if name.lower().endswith(ALLOWED_FORMATS):
                            found.append(prefix + name)
                        else:
                            skipped.add("extension", prefix + name)
                    elif not follow_links and entry.is_dir(follow_symlinks=True):
                        skipped.add("link", prefix + name)
                    else:
                        skipped.add("special", prefix + name)
        except OSError:
            skipped.add("unreadable", prefix[:-1])
        folders.sort(reverse=True)  # popped smallest first
        stack.extend((os.path.join(folder, name), prefix + name + "/") for name in folders)
    found.sort()  # "/" separators: nesting sorts alike on every platform
    return found


def _check_directory(directory: str) -> None:
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Directory not found. Received: directory={directory!r}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Expected a directory of class folders. Received: directory={directory!r}")


def _scan_root(directory: str, skipped: _SkipCounter) -> list[str]:
    """Returns the sorted class folder names of `directory`, counting what else lies there."""
    _check_directory(directory)
    names = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if _is_hidden(name):
                skipped.add("hidden", name)
            # As in Keras, a symlinked class folder counts; `follow_links` governs sub-folders.
            elif entry.is_dir(follow_symlinks=True):
                names.append(name)
            elif entry.is_file(follow_symlinks=True):
                skipped.add("unlabeled" if name.lower().endswith(ALLOWED_FORMATS) else "extension", name)
            else:
                skipped.add("special", name)
    return sorted(names)


def list_class_folders(directory: str) -> list[str]:
    """Returns the sorted, non-hidden sub-folder names of `directory`."""
    return _scan_root(directory, _SkipCounter())


def log_index(index: FolderIndex) -> None:
    """Logs what indexing left out (INFO, one record) and `layout_warnings` (WARNING), on "mixup_sequence"."""
    lines = index.skipped.describe()
    if lines:
        logger.info(
            "Indexed %d images in %d classes under '%s'; left out:\n  %s",
            index.samples,
            index.num_classes,
            display_path(index.directory),
            "\n  ".join(lines),
        )
    for message in index.layout_warnings():
        logger.warning(message)


def index_directory(
    directory: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    follow_links: bool = False,
    log: bool = True,
) -> FolderIndex:
    """Indexes a directory with one sub-folder per class.

    Classes are the sorted sub-folder names, or `class_names` (a subset, in
    the order given). Images in nested folders under a class count. Files
    with the extensions in `ALLOWED_FORMATS` (any case) are images; hidden
    files and folders (name starting with ".") are skipped. Everything left
    out is counted by reason in `FolderIndex.skipped`.

    Args:
        directory: Root of the tree.
        class_names: Optional class folders to use, in label order.
        follow_links: Whether to descend into symlinked sub-folders of a
            class (symlinked class folders themselves always count, as in Keras).
        log: Whether to log what was left out (INFO) and signs of a wrong
            `directory` (WARNING: images outside class folders, a single
            class) on the "mixup_sequence" logger (see `log_index`).

    Returns:
        A `FolderIndex`.

    Raises:
        FileNotFoundError: The directory is missing, has no class folders, or
            some classes hold no images (all of them are named).
        ValueError: `class_names` names a folder that does not exist.
    """
    directory = os.fsdecode(os.fspath(directory))
    skipped = _SkipCounter()
    available = _scan_root(directory, skipped)
    if class_names is None:
        if not available:
            loose = skipped.counts.get("unlabeled", 0)
            hint = f" It holds {loose} images itself: is it one class? Then pass its parent." if loose else ""
            raise FileNotFoundError(
                f"Expected one sub-folder per class in {directory!r}, found none "
                f"(hidden folders are skipped).{hint} Received: directory={directory!r}"
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
    per_class = [_walk_images(directory, n, follow_links, skipped) for n in names]
    empty = [n for n, files in zip(names, per_class) if not files]
    if empty:
        left_out = skipped.result().describe()
        note = f" Left out: {'; '.join(left_out)}." if left_out else ""
        raise FileNotFoundError(
            f"No images found in class folder(s) {empty} of {directory!r}. "
            f"Allowed formats: {', '.join(ALLOWED_FORMATS)} (any case).{note}"
        )
    labels = np.repeat(np.arange(len(names), dtype=np.int32), [len(f) for f in per_class])
    paths = [p for files in per_class for p in files]
    index = FolderIndex.from_paths(directory, names, paths, labels, skipped.result())
    if log:
        log_index(index)
    return index
