"""Images per second of a `BatchLoader`: serial, worker threads or worker processes.

`measure` times a loader the way training uses it. The clock starts before
the workers do, so the first batch's wait (worker start-up included) is
reported apart; the rest of epoch 0 is a warm-up (workers busy, files in
the page cache). Then whole epochs are timed back to back, as `fit` asks
for them (the workers prefetch across the epoch boundary), until at least
`min_epochs` epochs and `min_seconds` seconds have been timed, so a small
folder is timed over several epochs and every rate comes with its spread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from mixup_sequence.loader import BatchLoader
from mixup_sequence.workers import ProcessPool, ThreadPool

MODES = ("serial", "threads", "processes")


@dataclasses.dataclass(frozen=True)
class Throughput:
    """What `measure` found for one mode.

    Attributes:
        mode: `"serial"`, `"threads"` or `"processes"`.
        workers: Threads or processes (0 for serial).
        first_batch_s: Seconds from the start (before any worker exists) to
            the first batch.
        epoch_images: Images in one epoch.
        epoch_seconds: Duration of each timed epoch.
    """

    mode: str
    workers: int
    first_batch_s: float
    epoch_images: int
    epoch_seconds: tuple[float, ...]

    @property
    def rates(self) -> np.ndarray:
        """Images per second of each timed epoch."""
        return self.epoch_images / np.maximum(np.asarray(self.epoch_seconds), 1e-9)

    @property
    def median(self) -> float:
        return float(np.median(self.rates))


def epoch_images(loader: BatchLoader) -> int:
    """The number of images in one epoch of `loader`."""
    return min(len(loader) * loader.options.batch_size, loader.sampler.shard_samples)


def measure(
    loader: BatchLoader,
    mode: str,
    workers: int = 0,
    *,
    min_epochs: int = 3,
    min_seconds: float = 3.0,
    on_batch: Callable[[int, int], None] | None = None,
) -> Throughput:
    """Times `loader` in `mode` (see the module docs).

    Args:
        loader: The loader; its batches of epochs 0, 1, 2, ... are loaded.
        mode: One of `MODES`.
        workers: Threads or processes (ignored for `"serial"`).
        min_epochs: Timed epochs, at least (after the warm-up epoch).
        min_seconds: Timed seconds, at least.
        on_batch: Called with `(epoch, i)` after each batch (for progress).
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    if mode != "serial" and workers < 1:
        raise ValueError(f"The {mode!r} mode needs `workers` >= 1. Received: workers={workers}")
    if min_epochs < 1:
        raise ValueError(f"`min_epochs` must be >= 1. Received: min_epochs={min_epochs}")
    pool: ProcessPool | ThreadPool | None = None
    get: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    start = time.perf_counter()
    if mode == "serial":
        workers = 0
        get = loader.load_batch
    else:
        pool = (ThreadPool if mode == "threads" else ProcessPool)(loader, workers, 2 * workers)
        get = pool.get
    try:
        get(0, 0)
        first = time.perf_counter() - start
        if on_batch is not None:
            on_batch(0, 0)
        for i in range(1, len(loader)):
            get(0, i)
            if on_batch is not None:
                on_batch(0, i)
        seconds: list[float] = []
        previous = time.perf_counter()
        epoch = 0
        while len(seconds) < min_epochs or sum(seconds) < min_seconds:
            epoch += 1
            for i in range(len(loader)):
                get(epoch, i)
                if on_batch is not None:
                    on_batch(epoch, i)
            now = time.perf_counter()
            seconds.append(now - previous)
            previous = now
    finally:
        if pool is not None:
            pool.close()
    return Throughput(mode, workers, first, epoch_images(loader), tuple(seconds))
