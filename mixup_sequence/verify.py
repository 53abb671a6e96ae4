"""Open every file of an index once, before training, and list the bad ones.

`check_files` decodes each image in full (no resize) on a thread pool
(OpenCV releases the GIL while decoding), with a progress line on stderr,
and returns what it found per file, so that a dirty folder is found out
before hour 9 of a training run.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from mixup_sequence.decode import DEFAULT_MAX_PIXELS, decode_bytes, read_bytes
from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.source import Source


@dataclasses.dataclass(frozen=True)
class FileCheck:
    """What decoding one file found.

    Attributes:
        path: The file.
        size: `(width, height)` as decoded (after EXIF rotation), or None.
        error: Why it failed, or None if it decoded.
    """

    path: str
    size: tuple[int, int] | None
    error: str | None


class Progress:
    """A one-line progress counter on a text stream (quiet when `enabled` is False)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None, unit: str = "files"):
        self.total, self.label, self.enabled, self.unit = total, label, enabled, unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.2 or self.done == self.total):
            self._last = now
            pct = 100.0 * self.done / max(1, self.total)
            rate = self.done / max(now - self._start, 1e-9)
            self.stream.write(f"\r{self.label}: {self.done}/{self.total} {self.unit} ({pct:.0f}%, {rate:.0f}/s)")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


def _check(path: str, color_mode: str, max_pixels: int | None) -> FileCheck:
    try:
        image = decode_bytes(read_bytes(path), path, color_mode, None, max_pixels)
    except ImageDecodeError as e:
        return FileCheck(path, None, e.reason)
    return FileCheck(path, (image.shape[1], image.shape[0]), None)


def iter_checks(
    index: Source,
    color_mode: str = "rgb",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
) -> Iterator[FileCheck]:
    """Yields a `FileCheck` per file of `index`, in index order."""
    workers = workers or os.cpu_count() or 1
    bar = Progress(index.samples, "verify", progress)
    with ThreadPoolExecutor(workers) as pool:
        paths = (index.path(k) for k in range(index.samples))
        for check in pool.map(lambda p: _check(p, color_mode, max_pixels), paths):
            bar.update()
            yield check


def check_files(index: Source, **kwargs) -> dict[str, str]:
    """Decodes every file of `index`; returns `{path: reason}` for those that fail.

    Keyword arguments are those of `iter_checks`.
    """
    return {c.path: c.error for c in iter_checks(index, **kwargs) if c.error is not None}
