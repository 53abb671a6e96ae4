"""Keep OpenCV's own thread pool out of the way of data-loading workers.

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
