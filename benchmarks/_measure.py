"""Time, CPU and memory of one loader path, measured from inside the process that runs it.

Linux only (reads /proc). No psutil: the numbers come straight from the kernel.

- images/s: images delivered per wall-clock second of a whole epoch, from
  just before `on_epoch_begin` to just after `on_epoch_end` (so worker
  start-up, which Keras pays every epoch, is included).
- parent CPU: `time.process_time()` of this process over the measured
  epochs (all its threads: the consumer, Keras' enqueuer and pool threads,
  worker threads in threads mode, tf.data's threads), divided by batches.
- parent peak RSS: `VmHWM`, reset with `/proc/self/clear_refs` before each
  path so that paths run in one process do not inherit each other's peak.
- workers: a sampling thread *in the process that started the benchmark
  process* (so its CPU is not charged to the parent measured) finds that
  process's descendants in /proc every `interval` seconds and keeps each
  one's `VmHWM` (the kernel's own peak, so sampling only misses a worker
  that lives less than a period) and the largest sum of their private
  memory (`Private_Clean + Private_Dirty` from `smaps_rollup`: pages a
  forked worker does not share with the parent; reading it costs ~8 ms per
  TensorFlow-sized process, hence a slower period). The benchmark process
  names the path it is measuring in a marker file, so samples are
  attributed to the right path.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

_STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """Memory fields of /proc/<pid>/status, in kB (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in _STATUS_KEYS:
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def private_kb(pid: int) -> int | None:
    """Private (unshared) resident memory of a process in kB, or None."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total


def rss_mb() -> float:
    return proc_status().get("VmRSS", 0) / 1024


def reset_peak_rss() -> bool:
    """Resets this process's VmHWM (and so ru_maxrss) to its current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    hwm = proc_status().get("VmHWM")
    if hwm is None:  # no /proc: ru_maxrss is in kB on Linux
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return hwm / 1024


def descendants(root: int) -> list[int]:
    """Pids of all live descendants of `root` (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class ChildMemorySampler(threading.Thread):
    """Samples the memory of `root`'s descendants until `stop()`, per marker.

    Args:
        root: The process whose descendants (its workers) are sampled.
        marker: A file holding the key of what `root` is measuring now
            (empty between measurements: nothing is sampled then).
        interval: Seconds between samples of `VmHWM`.
        private_every: Read private memory every this many samples.
    """

    def __init__(self, root: int, marker: str, interval: float = 0.5, private_every: int = 2):
        super().__init__(daemon=True, name="bench-child-sampler")
        self.root, self.marker = root, marker
        self.interval, self.private_every = interval, max(1, private_every)
        self.peak_kb: dict[str, dict[int, int]] = {}
        self.max_private_sum_kb: dict[str, int] = {}
        self._stop_event = threading.Event()
        self._ticks = 0

    def _current(self) -> str:
        try:
            with open(self.marker) as f:
                return f.read().strip()
        except OSError:
            return ""

    def sample(self) -> None:
        key = self._current()
        if not key:
            return
        self._ticks += 1
        with_private = self._ticks % self.private_every == 1 or self.private_every == 1
        peaks = self.peak_kb.setdefault(key, {})
        private_sum, private_read = 0, False
        for pid in descendants(self.root):
            hwm = proc_status(pid).get("VmHWM")
            if hwm is None:
                continue
            peaks[pid] = max(peaks.get(pid, 0), hwm)
            private = private_kb(pid) if with_private else None
            if private is not None:
                private_sum, private_read = private_sum + private, True
        if private_read:
            self.max_private_sum_kb[key] = max(self.max_private_sum_kb.get(key, 0), private_sum)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def summary(self, key: str) -> dict[str, float | int | None]:
        peaks = self.peak_kb.get(key)
        if not peaks:
            return {"workers_seen": 0, "worker_peak_rss_mb": None, "workers_private_mb": None}
        return {
            "workers_seen": len(peaks),
            "worker_peak_rss_mb": max(peaks.values()) / 1024,
            "workers_private_mb": self.max_private_sum_kb[key] / 1024 if key in self.max_private_sum_kb else None,
        }


@dataclass
class Measurement:
    """The outcome of one path at one image size (what goes into results.json)."""

    path: str
    size: str
    images_per_s: float | None = None
    epoch_images_per_s: list[float] = field(default_factory=list)
    warmup_images_per_s: list[float] = field(default_factory=list)  # a cache's filling epoch, for a peer
    images_per_epoch: int = 0
    batches_per_epoch: int = 0
    parent_cpu_ms_per_batch: float | None = None
    parent_rss_before_mb: float | None = None
    parent_peak_rss_mb: float | None = None
    parent_rss_per_epoch_mb: list[float] = field(default_factory=list)
    workers_seen: int = 0
    worker_peak_rss_mb: float | None = None
    workers_private_mb: float | None = None
    setup_s: float | None = None
    wall_s: float | None = None
    note: str = ""
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def measure(
    measurement: Measurement,
    build: Callable[[], object],
    run_epoch: Callable[[object], tuple[int, int]],
    *,
    epochs: int,
    warmup: int,
    scale: float = 1.0,
    prepare: Callable[[object], None] | None = None,
) -> Measurement:
    """Runs `warmup + epochs` epochs and fills `measurement`.

    Args:
        build: Makes the loader (timed as `setup_s`, inside the memory window).
        run_epoch: Runs one whole epoch of the loader; returns `(images, batches)`.
        scale: Multiplies images/s (the limit: per-core rate times cores).
        prepare: Called with the loader before each epoch, outside its timing.
    """
    reset_peak_rss()
    measurement.parent_rss_before_mb = rss_mb()
    start = time.perf_counter()
    loader = None
    try:
        loader = build()
        measurement.setup_s = time.perf_counter() - start
        rates, cpu, batches_total = [], 0.0, 0
        for e in range(warmup + epochs):
            if prepare is not None:
                prepare(loader)
            c0, t0 = time.process_time(), time.perf_counter()
            images, batches = run_epoch(loader)
            t1, c1 = time.perf_counter(), time.process_time()
            measurement.parent_rss_per_epoch_mb.append(rss_mb())
            if e >= warmup:
                rates.append(images / (t1 - t0) * scale)
                cpu += c1 - c0
                batches_total += batches
            else:
                measurement.warmup_images_per_s.append(images / (t1 - t0) * scale)
            measurement.images_per_epoch, measurement.batches_per_epoch = images, batches
        measurement.epoch_images_per_s = rates
        measurement.images_per_s = statistics.median(rates) if rates else None
        measurement.parent_cpu_ms_per_batch = 1e3 * cpu / batches_total if batches_total else None
        describe = getattr(loader, "describe", None)
        if describe is not None and describe():
            measurement.note = "; ".join(filter(None, [measurement.note, describe()]))
    except Exception as e:  # a path that fails is reported, not fatal
        measurement.error = f"{type(e).__name__}: {e}"[:500]
    finally:
        close = getattr(loader, "close", None)
        if close is not None:
            try:
                close()
            except Exception as e:
                measurement.error = measurement.error or f"close: {type(e).__name__}: {e}"[:500]
        measurement.wall_s = time.perf_counter() - start
        measurement.parent_peak_rss_mb = peak_rss_mb()
    return measurement
