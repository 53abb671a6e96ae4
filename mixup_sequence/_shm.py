"""Shared memory for the worker processes' batch slots: a memfd, or else a file in /dev/shm.

Linux's `memfd_create` makes anonymous shared memory: it does not depend on
the size of `/dev/shm` (64 MB in a Docker container unless told
`--shm-size`, and in a Kubernetes pod without a memory-backed volume), and
it has no name, so nothing can be left behind. Where it is not available
(macOS, a sandbox that forbids it), a file in `/dev/shm` (or the temporary
folder) is created and its name removed at once.

Either way the pages are reserved up front with `posix_fallocate`: a
sparse file would fail only when a worker first touches a page that
cannot be backed, which kills the worker with SIGBUS in the middle of a
batch. Before reserving, the size is checked against the memory (for a
memfd) or free space (for a file) there is, so a request that cannot fit
fails at once, without taking memory from anything else.

Worker processes receive the file descriptor itself, not a name: a
`fork` child inherits it, and a `spawn` or `forkserver` child gets a
duplicate from `multiprocessing`'s own descriptor passing
(`multiprocessing.reduction.DupFd`) as it starts. The parent closes its
descriptor once every worker has been started; the memory lives as long as
a mapping of it does.

`KINDS` lists the kinds tried, in order; tests narrow it (for example to
`("file",)` to exercise the fallback on a small tmpfs).
"""

from __future__ import annotations

import errno
import mmap
import os
import tempfile
from multiprocessing import reduction
from typing import Any

import numpy as np

KINDS: tuple[str, ...] = ("memfd", "file")

# posix_fallocate errors that mean "this file system cannot reserve", not "no room": pages then
# come when first written, as with a sparse file.
_CANNOT_RESERVE = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


class NoRoom(OSError):
    """No kind of shared memory could hold the request; `tried` says what each kind had."""

    def __init__(self, size: int, tried: list[str]):
        super().__init__(errno.ENOMEM, f"{size:,} bytes of shared memory could not be reserved: " + "; ".join(tried))
        self.size = size
        self.tried = tried


class SharedMemory:
    """An open, nameless shared-memory file of `size` bytes.

    Pickled into a worker process while it starts, it arrives as a
    duplicate of the descriptor (see the module docs).

    Args:
        fd: The open file descriptor.
        size: Its size in bytes.
        where: What backs it, in words ("memory (memfd)" or a folder).
    """

    def __init__(self, fd: int, size: int, where: str):
        self.fd, self.size, self.where = fd, size, where

    def map(self) -> tuple[mmap.mmap, np.ndarray]:
        """Maps the whole file; returns the mapping and a uint8 array over it."""
        mapped = mmap.mmap(self.fd, self.size)
        return mapped, np.frombuffer(mapped, dtype=np.uint8)

    def close(self) -> None:
        """Closes this process's descriptor (mappings stay valid); safe to repeat."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (reduction.DupFd(self.fd), self.size, self.where)

    def __repr__(self) -> str:
        return f"SharedMemory(fd={self.fd}, size={self.size}, where={self.where!r})"


def _rebuild(dup: Any, size: int, where: str) -> SharedMemory:
    return SharedMemory(dup.detach(), size, where)


def shm_dir() -> str:
    """The folder for the file fallback: `/dev/shm` where it exists, else the temporary folder."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def memory_available() -> int | None:
    """Bytes a memfd could take at most: free memory and swap, capped by a container's limit; None if unknown."""
    values = []
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1:2]}
        if "MemAvailable" in info:
            values.append(info["MemAvailable"] + info.get("SwapFree", 0))
    except (OSError, ValueError, IndexError):
        pass
    # The container's own memory limit (cgroup v2, then v1), as its namespace shows it.
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            values.append(int(text))
        break
    return min(values) if values else None


def _free_bytes(folder: str) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _reserve(fd: int, size: int) -> None:
    """Gives the file its size, with every page allocated where the system can do that."""
    os.ftruncate(fd, size)
    if not hasattr(os, "posix_fallocate"):  # macOS: pages come when first written
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in _CANNOT_RESERVE:
            raise


def _memfd(size: int) -> SharedMemory:
    if not hasattr(os, "memfd_create"):
        raise NoRoom(size, ["memfd: not available on this system"])
    available = memory_available()
    if available is not None and size > available:
        raise NoRoom(size, [f"memory (memfd): {available:,} bytes available"])
    try:
        fd = os.memfd_create("mixup_sequence-slots", os.MFD_CLOEXEC)
    except OSError as e:
        raise NoRoom(size, [f"memfd: {e.strerror}"]) from e
    return _sized(fd, size, "memory (memfd)", available, "available")


def _file(size: int) -> SharedMemory:
    folder = shm_dir()
    free = _free_bytes(folder)
    if free is not None and size > free:
        raise NoRoom(size, [f"{folder}: {free:,} bytes free"])
    path = os.path.join(folder, f"mixup_sequence-{os.getpid()}-{os.urandom(6).hex()}")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise NoRoom(size, [f"{folder}: {e.strerror}"]) from e
    os.unlink(path)  # nameless from here on: nothing to leave behind
    return _sized(fd, size, folder, free, "free")


def _sized(fd: int, size: int, where: str, available: int | None, word: str) -> SharedMemory:
    try:
        _reserve(fd, size)
    except OSError as e:
        os.close(fd)
        known = f" ({available:,} bytes {word} before)" if available is not None else ""
        raise NoRoom(size, [f"{where}: {e.strerror}{known}"]) from e
    return SharedMemory(fd, size, where)


_MAKERS = {"memfd": _memfd, "file": _file}


def allocate(size: int) -> SharedMemory:
    """Returns `size` bytes of reserved shared memory, of the first kind in `KINDS` that has room.

    Raises:
        NoRoom: No kind could hold it; `tried` says what each had.
    """
    tried: list[str] = []
    for kind in KINDS:
        try:
            return _MAKERS[kind](size)
        except NoRoom as e:
            tried.extend(e.tried)
    raise NoRoom(size, tried)
