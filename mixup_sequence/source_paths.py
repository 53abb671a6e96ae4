"""The paths source: a list of image paths and their labels.

`paths_source(paths, labels, ...)` builds a `Source` without touching the
disk; `check_files(source, ...)` then reports every missing or unreadable
file at once. `source_dataframe.py` builds on both.

Labels, one per path, in one of these forms:

- class names (`"cat"`): classes are the sorted distinct names, or
  `class_names` (in that order; every name must be in it);
- integer ids (`3`): classes are `"0"` .. `"K-1"` with `K = max id + 1`,
  or `class_names` (ids index it);
- multi-label, a list (or tuple, set) of class names per path
  (`["cat", "dog"]`, `[]` for none): classes as for names;
- multi-label, a 2-D array of 0/1 (or bool) of shape `(len(paths), K)`,
  one column per class: classes `"0"` .. `"K-1"`, or `class_names`.

Keys (see `source.py`): with a `directory`, each path is relative to it,
stored with "/" separators; without one, each path is stored as given
(absolute, or relative to the working directory). Either way it is
normalised (`a//b`, `./a` -> `a`), and a file listed twice is an error: a
split could otherwise put it on both sides.
"""

from __future__ import annotations

import numbers
import os
import posixpath
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mixup_sequence.errors import MissingFilesError
from mixup_sequence.source import Source

# How many rows an error message lists; the exception carries all of them.
LISTED_ROWS = 20

# Files checked per task by `check_files`'s threads (stat calls release the interpreter lock).
_CHECK_CHUNK = 2048

RowName = Callable[[int], str]


def listing(lines: Sequence[str], limit: int = LISTED_ROWS) -> str:
    """`lines` as an indented list, the first `limit` of them and how many more."""
    shown = "".join(f"\n  {line}" for line in lines[:limit])
    if len(lines) > limit:
        shown += f"\n  ... and {len(lines) - limit} more"
    return shown


def _indexed(name: str) -> RowName:
    return lambda i: f"{name}[{i}]"


# --- labels ----------------------------------------------------------------------------------------------


def check_class_names(class_names: object) -> tuple[str, ...] | None:
    """`class_names` as a tuple, or None; raises for anything but distinct, non-empty strings."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not all(isinstance(n, str) for n in class_names):  # type: ignore[attr-defined]
        raise TypeError(f"`class_names` must be a list of class names (str). Received: class_names={class_names!r}")
    names: tuple[str, ...] = tuple(class_names)  # type: ignore[arg-type]
    if not names or len(set(names)) != len(names) or "" in names:
        raise ValueError(
            "`class_names` must be a non-empty list of distinct, non-empty names. "
            f"Received: class_names={list(names)!r}"
        )
    return names


# A row of these is a multi-label row: its set of class names.
_SET_TYPES = (list, tuple, set, frozenset, np.ndarray)


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "name"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return "id"
    if isinstance(value, _SET_TYPES):
        return "set"
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    return "other"


_KIND_WORDS = {"name": "a class name", "id": "an integer id", "set": "a list of class names"}


def _label_kind(values: Sequence[Any], name: str, row: RowName) -> str:
    """Whether `values` are class names, integer ids or label sets; raises for missing or mixed values."""
    if all(type(v) is str for v in values):  # the common case, at a fraction of the cost
        return "name"
    kinds = [_kind(v) for v in values]
    missing = [i for i, k in enumerate(kinds) if k == "missing"]
    if missing:
        raise ValueError(
            f"Every sample needs a label: {len(missing)} of {len(values)} have none in `{name}` (None or NaN). "
            f"Label or remove them (multi-label: [] for a sample with no class):{listing([row(i) for i in missing])}"
        )
    other = [i for i, k in enumerate(kinds) if k == "other"]
    if other:
        raise TypeError(
            f"`{name}` must hold class names (str), integer ids, or lists of class names (multi-label); or be a "
            "2-D array of 0/1 (multi-hot). Received:"
            + listing([f"{row(i)}: {values[i]!r} ({type(values[i]).__name__})" for i in other])
        )
    first: dict[str, int] = {}
    for i, k in enumerate(kinds):
        first.setdefault(k, i)
    if len(first) > 1:
        mixed = [f"{row(i)}: {values[i]!r} ({_KIND_WORDS[k]})" for k, i in first.items()]
        raise TypeError(
            f"`{name}` must be all class names, all integer ids, or all lists of class names (multi-label), "
            f"not a mix. Received:{listing(mixed)}"
        )
    return next(iter(first))


def _check_known(names: Sequence[str], rows: Sequence[int], class_names: Sequence[str], name: str, row: RowName):
    """Raises, listing the rows, if some of `names` (found at `rows`) are not in `class_names`."""
    known = set(class_names)
    if known.issuperset(names):
        return
    unknown = [(r, n) for r, n in zip(rows, names) if n not in known]
    if unknown:
        raise ValueError(
            f"Every label in `{name}` must be one of `class_names` {list(class_names)}: {len(unknown)} are not "
            f"(no sample is dropped silently). Add them to `class_names` or remove those rows:"
            + listing([f"{row(r)}: {n!r}" for r, n in unknown])
        )


def _check_nonempty_names(names: Sequence[str], rows: Sequence[int], name: str, row: RowName) -> None:
    if "" not in set(names):
        return
    empty = [r for r, n in zip(rows, names) if not n]
    if empty:
        raise ValueError(f"Class names must not be empty: `{name}` holds '' at:{listing([row(r) for r in empty])}")


def _encode_names(values: Sequence[str], class_names, name: str, row: RowName):
    rows = range(len(values))
    _check_nonempty_names(values, rows, name, row)
    if class_names is None:
        class_names = tuple(sorted(set(values)))
    else:
        _check_known(values, rows, class_names, name, row)
    lookup = {n: i for i, n in enumerate(class_names)}
    return class_names, np.fromiter((lookup[v] for v in values), dtype=np.int32, count=len(values))


def _encode_ids(values: np.ndarray, class_names, name: str, row: RowName):
    ids = values.astype(np.int64)
    bad = np.flatnonzero(ids < 0)
    if class_names is not None:
        bad = np.flatnonzero((ids < 0) | (ids >= len(class_names)))
    if len(bad):
        allowed = f"[0, {len(class_names)}) (ids index `class_names`)" if class_names is not None else "0 or more"
        raise ValueError(
            f"Integer labels in `{name}` must be {allowed}. Received:"
            + listing([f"{row(int(i))}: {int(ids[i])}" for i in bad])
        )
    if class_names is None:
        class_names = tuple(str(i) for i in range(int(ids.max()) + 1))
    return class_names, ids.astype(np.int32)


def _encode_sets(values: Sequence[Any], class_names, name: str, row: RowName):
    hits_row: list[int] = []
    hits_name: list[str] = []
    for i, labels in enumerate(values):
        if isinstance(labels, np.ndarray):
            labels = labels.reshape(-1).tolist()
        for label in labels:
            hits_row.append(i)
            hits_name.append(label)
    wrong = [(r, v) for r, v in zip(hits_row, hits_name) if not isinstance(v, str)]
    if wrong:
        raise TypeError(
            f"A multi-label row of `{name}` must list class names (str). For multi-hot rows pass a 2-D array "
            "(np.asarray(labels)); for integer ids, their names (str). Received:"
            + listing([f"{row(r)}: {values[r]!r} holds {v!r}" for r, v in wrong])
        )
    _check_nonempty_names(hits_name, hits_row, name, row)
    if class_names is None:
        class_names = tuple(sorted(set(hits_name)))
        if not class_names:
            raise ValueError(f"`{name}` names no class at all: every row's list is empty.")
    else:
        _check_known(hits_name, hits_row, class_names, name, row)
    lookup = {n: i for i, n in enumerate(class_names)}
    multi_hot = np.zeros((len(values), len(class_names)), dtype=np.uint8)
    multi_hot[np.asarray(hits_row, dtype=np.int64), [lookup[n] for n in hits_name]] = 1
    return class_names, multi_hot


def _encode_multi_hot(values: np.ndarray, class_names, name: str, row: RowName):
    n, k = values.shape
    if values.dtype == object:
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"Multi-hot `{name}` must hold numbers 0 and 1 (or bools).") from None
    if values.dtype.kind not in "biuf":
        raise TypeError(f"Multi-hot `{name}` must hold numbers 0 and 1 (or bools). Received: dtype {values.dtype}")
    bad = np.flatnonzero(~((values == 0) | (values == 1)).all(axis=1))
    if len(bad):
        raise ValueError(
            f"Multi-hot `{name}` must hold only 0 and 1 (1: the sample has that class; soft or missing values are "
            "not labels). Received:" + listing([f"{row(int(i))}: {values[i].tolist()}" for i in bad])
        )
    if class_names is None:
        class_names = tuple(str(i) for i in range(k))
    elif len(class_names) != k:
        raise ValueError(
            f"Multi-hot `{name}` has {k} columns, one per class, but `class_names` has {len(class_names)} names. "
            f"Received: class_names={list(class_names)!r}"
        )
    if k == 0:
        raise ValueError(f"Multi-hot `{name}` needs at least one column (class). Received: shape {values.shape}")
    return class_names, values.astype(np.uint8)


def encode_labels(
    labels: Any,
    samples: int,
    class_names: Sequence[str] | None = None,
    name: str = "labels",
    row: RowName | None = None,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Turns labels in any of the forms in the module docs into `(class_names, labels)` for a `Source`.

    Args:
        labels: One label per sample, or a `(samples, K)` multi-hot array.
        samples: How many samples there are.
        class_names: Optional class names, in label order.
        name: The argument's name, for errors.
        row: Names row `i` in errors (default `f"{name}[{i}]"`).

    Returns:
        The class names, and int32 class ids `(samples,)` or uint8 multi-hot rows `(samples, K)`.
    """
    row = row or _indexed(name)
    class_names = check_class_names(class_names)
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"`{name}` must be a sequence with one label per sample. Received: {name}={labels!r}")
    if len(labels) != samples:
        raise ValueError(
            f"`{name}` must hold one label per path: {samples} paths. Received: {len(labels)} labels in `{name}`"
        )
    if samples == 0:
        raise ValueError(f"`{name}` is empty: a source needs at least one sample.")
    if isinstance(labels, np.ndarray) or not any(isinstance(v, _SET_TYPES) for v in labels):
        array = labels if isinstance(labels, np.ndarray) else np.asarray(labels, dtype=object)
        if array.ndim == 2:
            return _encode_multi_hot(array, class_names, name, row)
        if array.ndim != 1:
            raise ValueError(
                f"`{name}` must be 1-D (one label per sample) or 2-D (multi-hot). Received: shape {array.shape}"
            )
        if array.dtype.kind in "iu":
            return _encode_ids(array, class_names, name, row)
        values = array.tolist()  # Python objects: names, ids, or what `_label_kind` reports
    else:
        values = list(labels)
    kind = _label_kind(values, name, row)
    if kind == "name":
        return _encode_names(values, class_names, name, row)
    if kind == "id":
        return _encode_ids(np.asarray(values, dtype=np.int64), class_names, name, row)
    return _encode_sets(values, class_names, name, row)


# --- paths -----------------------------------------------------------------------------------------------


def _normalised(path: str, sep: str, norm: Callable[[str], str]) -> str:
    if "//" in path or "/." in path or path[:1] == "." or path[-1:] == sep or (sep != "/" and sep in path):
        return norm(path)
    return path


def _is_absolute(path: str) -> bool:
    return path[:1] == "/" if os.name == "posix" else os.path.isabs(path)


def path_keys(
    paths: Sequence[Any], directory: str | None, name: str = "paths", row: RowName | None = None
) -> list[str]:
    """The keys of `paths` (see the module docs); raises, listing the rows, for paths that cannot be keys."""
    row = row or _indexed(name)
    keys: list[str] = []
    wrong: list[str] = []
    for i, p in enumerate(paths):
        if type(p) is str:
            keys.append(p)
            continue
        try:
            keys.append(os.fsdecode(os.fspath(p)))
        except TypeError:
            wrong.append(f"{row(i)}: {p!r} ({type(p).__name__})")
            keys.append("")
    if wrong:
        raise TypeError(f"`{name}` must hold paths (str, bytes or os.PathLike). Received:{listing(wrong)}")
    empty = [row(i) for i, k in enumerate(keys) if not k] if not all(keys) else []
    if empty:
        raise ValueError(f"`{name}` must not hold empty paths. Received '' at:{listing(empty)}")
    if directory is None:
        return [_normalised(k, os.sep, os.path.normpath) for k in keys]
    absolute = [f"{row(i)}: {k!r}" for i, k in enumerate(keys) if _is_absolute(k)]
    if absolute:
        raise ValueError(
            f"With a `directory`, every path in `{name}` must be relative to it; pass directory=None for absolute "
            f"paths. Received directory={directory!r} and:{listing(absolute)}"
        )
    if os.sep != "/":
        keys = [k.replace(os.sep, "/") for k in keys]
    return [_normalised(k, "/", posixpath.normpath) for k in keys]


def check_unique(keys: Sequence[str], name: str = "paths", row: RowName | None = None) -> None:
    """Raises, listing the rows, if a key occurs more than once."""
    if len(set(keys)) == len(keys):
        return
    row = row or _indexed(name)
    first: dict[str, int] = {}
    repeats: list[str] = []
    for i, key in enumerate(keys):
        j = first.setdefault(key, i)
        if j != i:
            repeats.append(f"{row(i)}: {key!r}, as {row(j)}")
    if repeats:
        raise ValueError(
            f"Each file must be listed once in `{name}` (the split could otherwise put a file in both training "
            f"and validation); {len(repeats)} are listed again. Remove the repeats (for a data frame, "
            f"`dataframe.drop_duplicates(x_col)`):{listing(repeats)}"
        )


def paths_source(
    paths: Sequence[Any],
    labels: Any,
    *,
    class_names: Sequence[str] | None = None,
    directory: str | os.PathLike | None = None,
    names: tuple[str, str] = ("paths", "labels"),
    rows: tuple[RowName, RowName] | None = None,
) -> Source:
    """A `Source` of `paths` with `labels` (forms in the module docs); touches no disk.

    Args:
        paths: Image paths: relative to `directory`, or, if it is None, as
            they are (absolute, or relative to the working directory).
        labels: One label per path, or a `(len(paths), K)` multi-hot array.
        class_names: Optional class names, in label order.
        directory: Optional folder the paths are relative to.
        names: The arguments' names, for errors.
        rows: How errors name row `i` of the paths and of the labels
            (default `paths[i]`, `labels[i]`).

    Raises:
        TypeError, ValueError: Paths or labels that cannot make a source,
            all of them listed with their rows.
    """
    if directory is not None:
        if not isinstance(directory, (str, bytes, os.PathLike)):
            raise TypeError(f"`directory` must be None or a path. Received: directory={directory!r}")
        directory = os.fsdecode(os.fspath(directory))
    if isinstance(paths, (str, bytes, os.PathLike)) or not hasattr(paths, "__len__"):
        raise TypeError(f"`{names[0]}` must be a sequence of paths. Received: {names[0]}={paths!r}")
    path_row, label_row = rows or (_indexed(names[0]), _indexed(names[1]))
    keys = path_keys(paths, directory, names[0], path_row)
    if not keys:
        raise ValueError(f"`{names[0]}` is empty: a source needs at least one sample.")
    check_unique(keys, names[0], path_row)
    classes, encoded = encode_labels(labels, len(keys), class_names, names[1], label_row)
    return Source.from_keys(directory, classes, keys, encoded)


# --- the files -------------------------------------------------------------------------------------------


def file_problem(path: str) -> str | None:
    """Why `path` cannot be read as an image file (missing, a folder, no permission), or None."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "not found"
    except PermissionError:
        return "permission denied"
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def check_files(source: Source, row: RowName | None = None, what: str = "paths", workers: int = 16) -> None:
    """Raises `MissingFilesError` listing every sample whose file is missing or unreadable, with its row.

    Args:
        source: The source; its sample `i` is row `i`.
        row: Names row `i` (default `paths[i]`).
        what: What lists the files, for the message.
        workers: Threads that check the files.
    """
    row = row or _indexed("paths")
    if source.directory is not None and not os.path.isdir(source.directory):
        raise FileNotFoundError(
            f"Directory not found: the paths in `{what}` are relative to it. Received: directory={source.directory!r}"
        )
    n = source.samples

    def chunk(start: int) -> list[tuple[int, str, str]]:
        found = []
        for k in range(start, min(start + _CHECK_CHUNK, n)):
            path = source.path(k)
            reason = file_problem(path)
            if reason is not None:
                found.append((k, path, reason))
        return found

    with ThreadPoolExecutor(max(1, min(workers, -(-n // _CHECK_CHUNK)))) as pool:
        found = [p for part in pool.map(chunk, range(0, n, _CHECK_CHUNK)) for p in part]
    if not found:
        return
    problems = [(row(k), path, reason) for k, path, reason in found]
    hint = ""
    if len(found) == n:
        where = "`directory`" if source.directory is not None else "the working directory (or pass `directory`)"
        hint = f" None of them can be read: are the paths relative to {where}?"
    raise MissingFilesError(
        f"{len(found)} of {n} files listed in `{what}` are missing or cannot be read.{hint} Fix or remove these "
        f"rows (none is dropped silently); `error.problems` lists all of them:"
        + listing([f"{r}: {p!r} ({reason})" for r, p, reason in problems]),
        problems,
    )
