"""A persistent on-disk cache of decoded, resized images: decode each file once, read it after.

Decoding and resizing is most of a loader's work (about 2.6 ms a 500x375
JPEG at 224x224), and its result, the uint8 image after decode, colour
conversion and resize, is the same in every epoch: augmentation runs after
it. `ImageCache` keeps that exact image, one record per indexed file, so
later epochs (and later runs) read a record instead of decoding. Whoever
decodes a file first (any worker thread or process, any run) writes its
record; `fill_cache` does them all ahead of training on a thread pool
(OpenCV releases the interpreter lock). No Keras here.

Layout (one directory per set of pixel-changing settings)::

    CACHE/224x224-rgb-area-1f0c3e9a7b2d/     # h x w, colour, filter, settings hash
        meta.json                            # the settings, readable
        records/3f/3fa0...e1                 # one record per file: blake2b(relative path)
        tmp/                                 # records being written

A record is a fixed 64-byte header followed by the raw pixels (H x W x C
bytes). The header holds a magic number, the format version, the 16-byte
digest of the file's path relative to the indexed folder, the file's size
and mtime_ns (taken before it was read), the image's shape, and the
`max_pixels` limit it was decoded under. A record is used only if all of
these match the file as it is now (a changed file is decoded again) and
its limit is no looser than the one in force, so a file that the current
`max_pixels` would refuse is refused, as without a cache. Settings that
change pixels (`image_size`, `color_mode`, `interpolation`,
`cv2.__version__` and `FORMAT_VERSION`) pick the directory, so a cache
made for other settings is never read. Records are keyed by path, not by
position in the index, so adding files decodes only the new ones.

Safety. A record is written to a unique file in `tmp/` and moved into
place with `os.replace`, which is atomic: a reader sees either no record
or a whole one, a process killed mid-write leaves only a stray temporary
(removed an hour later by `ImageCache.open`), and two writers of the same
record write the same bytes and the last rename wins. A record that is
short, for another file or another version, is simply decoded again.
Files that fail to decode are never cached. Records are not fsynced: a
process crash cannot tear one, a power failure could (its header or size
then no longer match and it is decoded again, unless the file system
kept the size with zeroed pixels: delete the cache after a power failure).
A cache that cannot be written (read-only, vanished, full) raises
`CacheError` naming the directory; it never serves a wrong pixel.

Space. Every record has the same size, so the cache's full size is
known from the number of files (`disk_bytes`); `check_space` raises
`CacheSpaceError` (bytes needed, bytes free) before the first record is
written if the disk cannot hold the missing ones.

Why one file per record and not one preallocated file of slots: a slot
file is keyed by position (adding a file moves the others), needs a
"filled" marker per slot written after its pixels, and makes concurrent
writers and a growing folder hard; per-record files get atomicity,
concurrency and growth from the file system. Their price is an `open`
per read and a file creation per write. Timed on this machine (2 shared
cores, 224x224x3 records from 500x375 JPEGs, warm page cache): a read,
the source's `fstat` for the key included, costs 30 us (read straight
into a fresh array with `os.readv`: no pickling, no per-record JSON)
against 2.1 ms to decode and resize; writing a record costs about
0.1 ms on a tmpfs and 0.1-0.8 ms on this machine's ext4, almost all of
it creating the file, which a slot file would save on the filling epoch
only. No separate RAM-only variant: a cache directory on a tmpfs such as
`/dev/shm` is one, shared by every worker process through the page cache
without copies, and the records of an on-disk cache that fits in memory
are read from the page cache anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from mixup_sequence.decode import COLOR_MODES, DEFAULT_MAX_PIXELS, load_image
from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.index import FolderIndex
from mixup_sequence.options import LoaderOptions
from mixup_sequence.verify import Progress

# Bump when the record layout, or the pixels `decode.load_image` makes for the same
# settings and OpenCV version, change: records of another version are never read.
FORMAT_VERSION = 1

_MAGIC = b"MXSQ"
# magic, format, blake2b-128 of the relative path, file size, file mtime_ns, height, width, channels
_KEY = struct.Struct("<4sI16sQqIII")
_LIMIT = struct.Struct("<Q")  # the max_pixels limit the record was decoded under
HEADER_BYTES = 64
_NO_LIMIT = 2**64 - 1  # max_pixels=None
_STALE_TEMPORARY_S = 3600.0
# A rough share of its folder per record (a directory entry), added to the space estimate.
_ENTRY_BYTES = 64
DEFAULT_BLOCK_BYTES = 4096
_O_BINARY = getattr(os, "O_BINARY", 0)


class CacheError(OSError):
    """The image cache cannot be used (not writable, vanished, full, or made for other settings).

    Attributes:
        filename: The cache directory (or record) concerned.
        reason: What went wrong and what to do, in words.
    """

    def __init__(self, filename: str, reason: str):
        self.message = reason
        super().__init__(reason)
        self.filename = filename
        self.reason = reason

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the fields and any notes across process boundaries
        return (type(self), (self.filename, self.reason), self.__dict__)


class CacheSpaceError(CacheError):
    """The disk cannot hold the cache's missing records.

    Attributes:
        needed: Bytes the missing records need on disk.
        free: Bytes free for this user on the cache's file system.
    """

    def __init__(self, filename: str, reason: str, needed: int = 0, free: int = 0):
        super().__init__(filename, reason)
        self.needed = needed
        self.free = free

    def __reduce__(self):
        return (type(self), (self.filename, self.reason, self.needed, self.free), self.__dict__)


def record_bytes(image_size: tuple[int, int], color_mode: str = "rgb") -> int:
    """Bytes of one record: the header and `height * width * channels` pixels."""
    height, width = image_size
    return HEADER_BYTES + height * width * COLOR_MODES[color_mode]


def disk_bytes(
    records: int, image_size: tuple[int, int], color_mode: str = "rgb", block: int = DEFAULT_BLOCK_BYTES
) -> int:
    """What `records` records take on a file system of `block`-byte blocks (an estimate of the folders included)."""
    per_record = -(-record_bytes(image_size, color_mode) // block) * block + _ENTRY_BYTES
    return records * per_record


def _digest(relative_path: str) -> bytes:
    return hashlib.blake2b(relative_path.encode("utf-8"), digest_size=16).digest()


def _fstat_readable(path: str) -> os.stat_result:
    """The file's status, from a descriptor: raises if it cannot be opened for reading."""
    fd = os.open(path, os.O_RDONLY | _O_BINARY)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _read_into(path: str, buffer: np.ndarray) -> int:
    """Reads a file's first `buffer.nbytes` bytes into `buffer`; returns how many it held."""
    fd = os.open(path, os.O_RDONLY | _O_BINARY)
    try:
        view = buffer.data
        done = 0
        while done < len(view):
            n = os.readv(fd, [view[done:]])
            if n == 0:
                break
            done += n
        return done
    finally:
        os.close(fd)


class ImageCache:
    """Records of decoded, resized uint8 images for one set of settings (see the module docs).

    Creating one touches no disk; `open()` makes (or checks) its directory.

    Example:

    ```python
    cache = ImageCache("cache/", image_size=(224, 224)).open()
    image = cache.load("cat/001.jpg", "data/cat/001.jpg")   # decoded and written once
    image = cache.load("cat/001.jpg", "data/cat/001.jpg")   # read from the record
    ```

    Args:
        directory: The cache's root folder; each set of settings gets its
            own sub-directory in it. One root can serve several datasets,
            but two datasets with the same relative paths replace each
            other's records (correct, but decoded again): give each its own.
        image_size: `(height, width)` of the images.
        color_mode: `"rgb"` or `"grayscale"`.
        interpolation: The resize filter (see `decode.INTERPOLATIONS`).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        image_size: tuple[int, int],
        color_mode: str = "rgb",
        interpolation: str = "area",
    ):
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise TypeError(f"`cache` must be a directory path (str or os.PathLike). Received: cache={directory!r}")
        # The same checks (and messages) as the sequences' arguments.
        checked = LoaderOptions(image_size=image_size, color_mode=color_mode, interpolation=interpolation)
        self.directory = os.fspath(directory)
        self.image_size = checked.image_size
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.shape = (*self.image_size, COLOR_MODES[color_mode])
        self.record_bytes = record_bytes(self.image_size, color_mode)
        self.settings = {
            "format": FORMAT_VERSION,
            "image_size": list(self.image_size),
            "color_mode": color_mode,
            "interpolation": interpolation,
            "opencv": cv2.__version__,
        }
        blob = json.dumps(self.settings, sort_keys=True).encode()
        self.key = hashlib.blake2b(blob, digest_size=6).hexdigest()
        height, width = self.image_size
        self.path = os.path.join(self.directory, f"{height}x{width}-{color_mode}-{interpolation}-{self.key}")
        self._records = os.path.join(self.path, "records")
        self._tmp = os.path.join(self.path, "tmp")

    def __repr__(self) -> str:
        return (
            f"ImageCache(path={self.path!r}, image_size={self.image_size}, color_mode={self.color_mode!r}, "
            f"interpolation={self.interpolation!r})"
        )

    # --- the directory -------------------------------------------------------------
    def open(self) -> ImageCache:
        """Makes (or checks) this settings' directory and that it is writable; returns self.

        Writes `meta.json` (the settings) and removes temporaries left over an
        hour ago by a killed process.

        Raises:
            CacheError: The directory cannot be made or written, or holds a
                cache for other settings.
        """
        meta = os.path.join(self.path, "meta.json")
        try:
            os.makedirs(self._records, exist_ok=True)
            os.makedirs(self._tmp, exist_ok=True)
            try:
                with open(meta, encoding="utf-8") as f:
                    found = json.load(f)
            except (FileNotFoundError, ValueError):
                found = None
            if found is not None and found != self.settings:
                raise CacheError(
                    self.path,
                    f"The image cache directory {self.path!r} holds records for other settings ({found}), not "
                    f"{self.settings}. Remove it, or pass another `cache` directory. "
                    f"Received: cache={self.directory!r}",
                )
            self._write_atomically(meta, (json.dumps(self.settings, indent=1, sort_keys=True) + "\n").encode())
            self._remove_stale_temporaries()
        except CacheError:
            raise
        except OSError as e:
            raise self._error(e, self.path) from e
        return self

    def _remove_stale_temporaries(self) -> None:
        cutoff = time.time() - _STALE_TEMPORARY_S
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    pass  # another process removed it first

    def _error(self, e: OSError, where: str) -> CacheError:
        """A `CacheError` for a failed write at `where`, saying what to do."""
        received = f"Received: cache={self.directory!r}"
        if isinstance(e, FileNotFoundError) or e.errno == errno.ENOENT:
            return CacheError(
                self.path,
                f"The image cache directory {self.path!r} vanished while in use ({where!r} is missing). Create "
                f"the sequence again to make a new cache, or pass cache=None. {received}",
            )
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return CacheError(
                self.path,
                f"The image cache directory {self.path!r} is not writable ({e.strerror}). Make it writable, pass "
                f"another `cache` directory, or cache=None to decode every epoch. {received}",
            )
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            free = self._free_bytes()
            return CacheSpaceError(
                self.path,
                f"The disk of the image cache {self.path!r} is full ({e.strerror}): a record needs "
                f"{self.record_bytes:,} bytes, {free:,} bytes are free. Free some space, pass another `cache` "
                f"directory, or cache=None. {received}",
                needed=self.record_bytes,
                free=free,
            )
        return CacheError(self.path, f"Could not write the image cache at {where!r}: {e}. {received}")

    def _free_bytes(self) -> int:
        try:
            usage = os.statvfs(self.path)
        except OSError:
            return 0
        return usage.f_bavail * usage.f_frsize

    def _write_atomically(self, path: str, *parts: bytes | bytearray | memoryview) -> None:
        """Writes `parts` to a unique temporary in `tmp/`, then renames it to `path` (atomic)."""
        temporary = os.path.join(self._tmp, f"{os.getpid()}-{threading.get_ident()}-{os.urandom(6).hex()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                for part in parts:
                    f.write(part)
            try:
                os.replace(temporary, path)
            except FileNotFoundError:
                try:  # a record folder is made on its first record (os.mkdir: never the cache itself)
                    os.mkdir(os.path.dirname(path))
                except FileExistsError:
                    pass
                os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    # --- records ---------------------------------------------------------------------
    def record_path(self, relative_path: str) -> str:
        """Where the record of the file at `relative_path` (from the indexed folder) lives."""
        return self._record_path(_digest(relative_path))

    def _record_path(self, digest: bytes) -> str:
        name = digest.hex()
        return f"{self._records}{os.sep}{name[:2]}{os.sep}{name[2:]}"

    def _key(self, digest: bytes, st: os.stat_result) -> bytes:
        return _KEY.pack(_MAGIC, FORMAT_VERSION, digest, st.st_size, st.st_mtime_ns, *self.shape)

    def _read(self, record: str, key: bytes, limit: int) -> np.ndarray | None:
        """The record's image if it is whole and its header matches `key` and `limit`, else None."""
        buffer = np.empty(self.record_bytes, dtype=np.uint8)
        try:
            n = _read_into(record, buffer)
        except OSError:
            return None  # missing or unreadable: decode again
        if n != self.record_bytes or buffer[: _KEY.size].tobytes() != key:
            return None
        if limit < _LIMIT.unpack_from(buffer.data, _KEY.size)[0]:
            return None  # decoded under a looser max_pixels: the current limit might refuse the file
        return buffer[HEADER_BYTES:].reshape(self.shape)

    def read(self, relative_path: str, path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
        """The cached image of `path` if its record is valid for the file as it is now, else None."""
        try:
            st = _fstat_readable(path)
        except OSError:
            return None
        limit = _NO_LIMIT if max_pixels is None else int(max_pixels)
        digest = _digest(relative_path)
        return self._read(self._record_path(digest), self._key(digest, st), limit)

    def fetch(
        self, relative_path: str, path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> tuple[np.ndarray, bool]:
        """Returns `(image, written)`: the image from its record, or decoded and written now.

        Args:
            relative_path: The file's path relative to the indexed folder (the key).
            path: The file itself.
            max_pixels: As for `decode.load_image`.

        Raises:
            ImageDecodeError: The file cannot be decoded, as without a cache
                (nothing is written).
            CacheError: The record cannot be written.
        """
        try:
            st = _fstat_readable(path)  # before reading, so a record never gets a newer file's key
        except OSError:
            return self._decode(path, max_pixels), False  # raises the uncached error for this file
        digest = _digest(relative_path)
        key = self._key(digest, st)
        limit = _NO_LIMIT if max_pixels is None else int(max_pixels)
        record = self._record_path(digest)
        image = self._read(record, key, limit)
        if image is not None:
            return image, False
        image = np.ascontiguousarray(self._decode(path, max_pixels))
        header = bytearray(HEADER_BYTES)
        header[: _KEY.size] = key
        _LIMIT.pack_into(header, _KEY.size, limit)
        try:
            self._write_atomically(record, header, image.data.cast("B"))
        except OSError as e:
            raise self._error(e, record) from e
        return image, True

    def load(self, relative_path: str, path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """The uint8 image of `path`, as `decode.load_image` makes it: from its record, or decoded and written.

        See `fetch`.
        """
        return self.fetch(relative_path, path, max_pixels)[0]

    def _decode(self, path: str, max_pixels: int | None) -> np.ndarray:
        return load_image(path, self.image_size, self.color_mode, self.interpolation, max_pixels)

    # --- space -----------------------------------------------------------------------
    def disk_bytes(self, records: int, block: int = DEFAULT_BLOCK_BYTES) -> int:
        """What `records` records take on disk (see the module function)."""
        return disk_bytes(records, self.image_size, self.color_mode, block)

    def missing(self, index: FolderIndex) -> list[int]:
        """Positions in `index` of the files that have no record yet (valid or not)."""
        return [k for k in range(index.samples) if not os.path.exists(self.record_path(index.relative_path(k)))]

    def check_space(self, index: FolderIndex) -> None:
        """Raises `CacheSpaceError` if the disk cannot hold the records `index` still misses.

        The full cache's size is known from the number of files; only when
        the disk cannot hold all of it are the existing records counted.
        """
        try:
            usage = os.statvfs(self.path)
        except OSError as e:
            raise self._error(e, self.path) from e
        block = usage.f_frsize or DEFAULT_BLOCK_BYTES
        free = usage.f_bavail * block
        files = usage.f_favail if usage.f_files else None  # some file systems report no inode count
        if self.disk_bytes(index.samples, block) <= free and (files is None or index.samples <= files):
            return
        missing = len(self.missing(index))
        needed = self.disk_bytes(missing, block)
        if needed > free:
            raise CacheSpaceError(
                self.path,
                f"The image cache {self.path!r} needs {needed:,} bytes more for {missing:,} of {index.samples:,} "
                f"images ({self.record_bytes:,} bytes a record), but its disk has {free:,} bytes free. Free some "
                f"space, pass a `cache` directory on another disk, a smaller `image_size`, or cache=None. "
                f"Received: cache={self.directory!r}",
                needed=needed,
                free=free,
            )
        if files is not None and missing > files:
            raise CacheSpaceError(
                self.path,
                f"The image cache {self.path!r} needs {missing:,} more files, but its file system has only "
                f"{files:,} free inodes. Pass a `cache` directory on another disk, or cache=None. "
                f"Received: cache={self.directory!r}",
                needed=needed,
                free=free,
            )


def _check_outside_classes(cache: ImageCache, index: FolderIndex) -> None:
    """Refuses a cache that would become a class folder of the indexed folder the next time it is indexed."""
    inside = os.path.relpath(os.path.realpath(cache.directory), os.path.realpath(index.directory))
    parts = inside.split(os.sep)
    if inside == os.curdir or (len(parts) == 1 and parts[0] != os.pardir and not parts[0].startswith(".")):
        raise ValueError(
            f"`cache` must not be {index.directory!r} or one of its class folders: its folders would be indexed "
            "as classes. Put it elsewhere, or in a hidden folder (name starting with '.'). "
            f"Received: cache={cache.directory!r}"
        )


def open_cache(directory: str | os.PathLike, options: LoaderOptions, index: FolderIndex) -> ImageCache:
    """An opened `ImageCache` for `options`' pixels, with room checked for `index`'s missing records."""
    cache = ImageCache(directory, options.image_size, options.color_mode, options.interpolation)
    _check_outside_classes(cache, index)
    cache.open()
    cache.check_space(index)
    return cache


@dataclasses.dataclass(frozen=True)
class CacheSummary:
    """What `fill_cache` did.

    Attributes:
        path: The cache's directory for these settings.
        records: Files in the index.
        written: Records decoded and written now.
        present: Records that were already valid.
        bad: `{path: reason}` of files that could not be decoded (not cached).
        disk_bytes: What the full cache takes on disk (an estimate of the folders included).
        seconds: How long it took.
    """

    path: str
    records: int
    written: int
    present: int
    bad: dict[str, str]
    disk_bytes: int
    seconds: float


def _bounded_map(pool: ThreadPoolExecutor, fn, items: Iterable[int], window: int):
    """Like `pool.map`, in order, with at most `window` tasks submitted at once; an error cancels the rest."""
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def fill_cache(
    cache: ImageCache,
    index: FolderIndex,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
) -> CacheSummary:
    """Writes the record of every file of `index` that lacks a valid one, on a thread pool.

    Shows a progress line on stderr. Files that fail to decode are listed
    in the summary's `bad`, not raised, and not cached.

    Args:
        cache: An opened `ImageCache`.
        index: The files.
        max_pixels: As for `decode.load_image`.
        workers: Threads; None for one per core.
        progress: Show the progress line.

    Raises:
        CacheError: The cache cannot be written, or its disk cannot hold it.
    """
    start = time.perf_counter()
    cache.check_space(index)
    workers = workers or os.cpu_count() or 1

    def one(k: int) -> tuple[bool, tuple[str, str] | None]:
        try:
            return cache.fetch(index.relative_path(k), index.path(k), max_pixels)[1], None
        except ImageDecodeError as e:
            return False, (e.filename, e.reason)

    written = present = 0
    bad: dict[str, str] = {}
    bar = Progress(index.samples, "cache", progress)
    with ThreadPoolExecutor(workers) as pool:
        for was_written, failure in _bounded_map(pool, one, range(index.samples), 4 * workers):
            if failure is not None:
                bad[failure[0]] = failure[1]
            elif was_written:
                written += 1
            else:
                present += 1
            bar.update()
    return CacheSummary(
        cache.path,
        index.samples,
        written,
        present,
        bad,
        cache.disk_bytes(index.samples),
        time.perf_counter() - start,
    )
