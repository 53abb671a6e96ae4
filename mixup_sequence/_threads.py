"""Threads and processes: OpenCV's thread pool, and per-thread state.

Keep OpenCV's own thread pool out of the way of data-loading workers.

Each worker decodes whole images; letting OpenCV also start a pool per
worker oversubscribes the cores. Calling `cv2.setNumThreads` inside a
*forked* child after the parent's OpenCV pool has run can hang, so the
thread count is set once in the parent, before workers exist (children
inherit it), and set in a child only when that child imported this module
itself (spawn and forkserver), where no pool has run yet.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from typing import Any

import cv2

_IMPORT_PID = os.getpid()
_done_pid: int | None = None
logger = logging.getLogger("mixup_sequence")


def limit_opencv_threads_for_workers() -> None:
    """Sets OpenCV to one thread in this process, once, where that is safe."""
    global _done_pid
    pid = os.getpid()
    if _done_pid == pid:
        return
    _done_pid = pid
    if pid != _IMPORT_PID and multiprocessing.parent_process() is not None:
        return  # forked child: inherits the parent's setting; never call it here
    if cv2.getNumThreads() != 1:
        logger.debug("Setting cv2.setNumThreads(1) in process %d for data-loading workers.", pid)
        cv2.setNumThreads(1)


class PerThread:
    """Mixin: `self._local` holds per-thread scratch state.

    It is never pickled (a worker process starts with none) and each thread
    sees only its own.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
