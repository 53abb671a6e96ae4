"""Persistent workers, processes or threads, that write batches into reused slots.

Keras' own `use_multiprocessing=True` starts a new pool every epoch and
pickles every float32 batch back through a pipe, which costs the parent
more CPU than decoding did; its threads restart every epoch too, wait
0.1 s for an empty queue at the end of each, and allocate a fresh batch
every time. `ProcessPool` and `ThreadPool` instead:

- start their workers once and keep them across epochs, prefetching into
  the next epoch; a worker process (`fork`, `forkserver` or `spawn`)
  imports this package, not Keras, so even `spawn` starts in about a second;
- give each batch a slot in one buffer (for processes, a shared-memory
  file), written in place by the worker (`BatchLoader.load_batch(out=...)`)
  and handed to the caller as a zero-copy NumPy view. The slot is reused
  only after every array viewing it has been garbage-collected, so a batch
  held by Keras or TensorFlow is never overwritten. When few slots are
  free, batches are copied out instead, so a caller holding many batches
  cannot stall the pool;
- remove the shared-memory file's name as soon as every worker has mapped it,
  so nothing can be left in `/dev/shm`, even if a process is killed;
- check that their workers are alive while they wait: a worker that dies (say
  SIGKILL) raises `WorkerError` within a second instead of hanging, and an
  exception in a worker (a bad file, a failing augmentation) is raised in the
  caller with its type, notes and the worker's traceback;
- ignore SIGINT in worker processes, so Ctrl-C reaches the caller, which stops
  the pool; a worker whose parent has died (even by SIGKILL) exits within a
  second, so no orphan is ever left behind.

Batches are still the pure function `loader.load_batch(epoch, i)`: which
worker computes one, and when, does not change a bit of it.
"""

from __future__ import annotations

import itertools
import logging
import mmap
import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from mixup_sequence import _threads
from mixup_sequence.loader import BatchLoader

logger = logging.getLogger("mixup_sequence")

_READY_TIMEOUT_S = 120.0
_POLL_S = 0.5
_STOP_TIMEOUT_S = 10.0
_names = itertools.count()


class WorkerError(RuntimeError):
    """A data-loading worker process died or could not start."""


def _shm_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


class _Layout:
    """Where slot `k`'s `x` and `y` live in the slots' buffer (for processes, the shared file)."""

    def __init__(self, x_shape: tuple[int, ...], y_shape: tuple[int, ...], slots: int, x_dtype: str = "float32"):
        self.x_shape, self.y_shape, self.slots = x_shape, y_shape, slots
        self.x_dtype = np.dtype(x_dtype)
        self.x_used = int(np.prod(x_shape)) * self.x_dtype.itemsize
        self.y_used = int(np.prod(y_shape)) * 4
        self.x_bytes = -(-self.x_used // 4) * 4  # `y` (float32) starts 4-byte aligned
        page = mmap.PAGESIZE
        self.slot_bytes = -(-(self.x_bytes + self.y_used) // page) * page
        self.total = self.slot_bytes * slots

    def views(self, buffer: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        start = k * self.slot_bytes
        x = buffer[start : start + self.x_used].view(self.x_dtype).reshape(self.x_shape)
        y_start = start + self.x_bytes
        y = buffer[y_start : y_start + self.y_used].view(np.float32).reshape(self.y_shape)
        return x, y


def _map_file(path: str, size: int) -> tuple[mmap.mmap, np.ndarray]:
    fd = os.open(path, os.O_RDWR)
    try:
        mapped = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    return mapped, np.frombuffer(mapped, dtype=np.uint8)


def _with_traceback(error: BaseException, worker: str) -> BaseException:
    """Adds the worker's traceback to `error` as a note; returns `error`."""
    text = "".join(traceback.format_exception(error)).rstrip()
    error.add_note(f"Traceback in data-loading worker ({worker}):\n{text}")
    return error


def _portable_exception(error: BaseException) -> bytes:
    """Pickles `error` with the worker's traceback as a note (or a stand-in)."""
    _with_traceback(error, f"pid {os.getpid()}")
    try:
        blob = pickle.dumps(error)
        pickle.loads(blob)
        return blob
    except Exception:  # an exception that does not survive pickling
        note = "\n".join(getattr(error, "__notes__", []))
        return pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}\n{note}"))


def _serve(
    loader: BatchLoader,
    buffer: np.ndarray,
    layout: _Layout,
    tasks: Any,
    results: Any,
    orphaned: Callable[[], bool],
    portable: Callable[[BaseException], Any],
) -> None:
    """A worker's loop: loads each `(epoch, i, slot)` task into its slot until `None` (or `orphaned()`)."""
    while True:
        try:
            task = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            if orphaned():
                break
            continue
        if task is None:
            break
        epoch, i, slot = task
        try:
            report: list[tuple[str, str]] = []
            x, _ = loader.load_batch(epoch, i, out=layout.views(buffer, slot), report=report)
            results.put(("ok", (epoch, i), slot, (len(x), report)))
        except BaseException as e:  # reported to the caller, never lost
            results.put(("error", (epoch, i), slot, portable(e)))


def _worker_main(loader: BatchLoader, path: str, layout: _Layout, tasks: Any, results: Any, worker_id: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _threads.limit_opencv_threads_for_workers()
    try:
        mapped, buffer = _map_file(path, layout.total)
    except OSError as e:
        results.put(("failed", worker_id, None, repr(e)))
        return
    results.put(("ready", worker_id, None, None))
    parent = os.getppid()
    # A parent that died (even by SIGKILL) leaves the worker orphaned: do not linger.
    _serve(loader, buffer, layout, tasks, results, lambda: os.getppid() != parent, _portable_exception)
    del mapped, buffer  # unmapped with the process


def _thread_main(loader: BatchLoader, buffer: np.ndarray, layout: _Layout, tasks: Any, results: Any) -> None:
    name = threading.current_thread().name
    _serve(loader, buffer, layout, tasks, results, lambda: False, lambda e: _with_traceback(e, f"thread {name}"))


class _View:
    """Exposes part of a slot as an array; the pool watches it with a weak reference.

    Arrays made from it (and any views of those) keep it alive, so the slot
    is free once it is gone. No code runs when it is collected: a `__del__`
    could swallow a Ctrl-C that arrives while it runs.
    """

    def __init__(self, array: np.ndarray):
        self.__array_interface__ = array.__array_interface__
        self._keep = array


class _Pool:
    """Computes `loader.load_batch(epoch, i)` in workers, into reused slots (see the module docs).

    Subclasses start the workers (`_launch`) and say which one died (`_dead_worker`).

    Args:
        loader: The `BatchLoader`.
        workers: Number of workers.
        prefetch: Batches computed ahead of the one asked for.
    """

    # Set by `_launch`: the slots' memory, and the queues to and from the workers.
    _buffer: np.ndarray
    _tasks: Any
    _results: Any

    def __init__(self, loader: BatchLoader, workers: int, prefetch: int):
        self.loader = loader
        self.workers = workers
        self.prefetch = max(1, prefetch)
        self.owner_pid = os.getpid()
        self._lock = threading.RLock()
        self._leases: dict[int, tuple[weakref.ref, weakref.ref]] = {}  # slot -> the views handed out
        self._procs: list[Any] = []
        self._closed = False
        self._finalizer: weakref.finalize | None = None
        self.reports: list[tuple[str, str]] = []  # (path, reason) of files replaced under on_error="skip"

    # --- life cycle -----------------------------------------------------------
    def _launch(self, layout: _Layout) -> None:
        """Starts the workers: sets `_buffer`, `_tasks`, `_results`, `_procs` and `_finalizer`."""
        raise NotImplementedError

    def _dead_worker(self) -> str | None:
        """Describes a worker that has died, if any."""
        raise NotImplementedError

    def _start(self) -> None:
        x_shape, y_shape = self.loader.batch_shapes()
        slots = self.prefetch + self.workers + 2
        self._layout = layout = _Layout(x_shape, y_shape, slots, self.loader.options.dtype)
        self._launch(layout)
        self._leases.clear()
        self._free = list(range(slots))
        self._pending: dict[tuple[int, int], int] = {}  # requested, not yet back
        self._done: dict[tuple[int, int], tuple[int, int]] = {}  # back: key -> (slot, rows)
        self._errors: dict[tuple[int, int], Any] = {}  # raised by a worker: key -> (pickled) error
        logger.debug("Started %d workers, %d slots of %d bytes", self.workers, slots, layout.slot_bytes)

    def close(self) -> None:
        """Stops the workers. Arrays already returned stay valid."""
        with self._lock:
            self._closed = True
            if self._finalizer is not None:
                self._finalizer()
            self._procs = []
            self._finalizer = None

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"A {type(self).__name__} cannot be pickled.")

    # --- batches -----------------------------------------------------------------
    def _collect_freed(self) -> None:
        """Frees the slots whose handed-out arrays have all been collected."""
        for slot in [k for k, refs in self._leases.items() if all(r() is None for r in refs)]:
            del self._leases[slot]
            self._free.append(slot)

    def _check_alive(self, doing: str) -> None:
        dead = self._dead_worker()
        if dead is not None:
            busy = sorted(self._pending) if hasattr(self, "_pending") else []
            self._broken()
            raise WorkerError(
                f"A data-loading worker {dead} while {doing}; batches in flight (epoch, index): {busy[:8]}. "
                "If it was killed for memory, lower `batch_size`, `workers` or `max_queue_size`."
            )

    def _broken(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._procs = []
        self._finalizer = None
        self.__dict__.pop("_layout", None)  # the next call starts a fresh pool

    def _request(self, key: tuple[int, int]) -> bool:
        """Makes sure `key` is on its way; False if no slot is free for it."""
        if key in self._pending or key in self._done or key in self._errors:
            return True
        if not self._free:
            return False
        slot = self._free.pop()
        self._pending[key] = slot
        self._tasks.put((key[0], key[1], slot))
        return True

    def _drop_other_epochs(self, epoch: int) -> None:
        """Frees batches prefetched for epochs other than `epoch` and the next one."""
        for key in [k for k in self._done if k[0] not in (epoch, epoch + 1)]:
            self._free.append(self._done.pop(key)[0])
        for key in [k for k in self._errors if k[0] not in (epoch, epoch + 1)]:
            del self._errors[key]

    def get(self, epoch: int, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns batch `i` of `epoch`, computed by the workers."""
        with self._lock:
            if self._closed:
                raise RuntimeError("This loader's worker pool was closed.")
            if not hasattr(self, "_layout"):
                self._start()
            self._check_alive("loading batches")  # a death is an error even if others cover for it
            self._collect_freed()
            self._drop_other_epochs(epoch)
            n = len(self.loader)
            if not 0 <= i < n:
                raise IndexError(f"Batch index out of range: expected 0 <= index < {n}. Received: {i}")
            key = (epoch, i)
            while not self._request(key):
                if self._done:  # evict a prefetched batch nobody asked for yet
                    self._free.append(self._done.pop(next(iter(self._done)))[0])
                elif self._pending:
                    self._receive(block=True)
                else:  # the caller holds every slot: compute this one here
                    return self.loader.load_batch(epoch, i, report=self.reports)
                self._collect_freed()
            # Prefetch what comes next, into the next epoch too (batches are pure functions
            # of their key, so a guess that turns out wrong only costs the work).
            for j in range(i + 1, i + 1 + self.prefetch):
                if len(self._free) <= 1:
                    break
                self._request((epoch, j) if j < n else (epoch + 1, j - n))
            while key not in self._done and key not in self._errors:
                self._receive(block=True)
            if key in self._errors:
                error = self._errors.pop(key)
                raise pickle.loads(error) if isinstance(error, bytes) else error
            slot, rows = self._done.pop(key)
            return self._deliver(slot, rows)

    def wait_idle(self) -> None:
        """Waits until no batch is being computed, prefetched ones included."""
        with self._lock:
            while getattr(self, "_pending", None):
                self._receive(block=True)

    def _receive(self, block: bool) -> None:
        while True:
            try:
                kind, key, slot, payload = self._results.get(timeout=_POLL_S if block else 0)
            except queue.Empty:
                if not block:
                    return
                self._check_alive("loading batches")
                self._collect_freed()
                continue
            if kind == "ok":
                rows, report = payload
                self.reports.extend(report)
                if self._pending.pop(key, None) is None:
                    self._free.append(slot)
                else:
                    self._done[key] = (slot, rows)
                return
            # "error": a worker raised while loading `key`; raised when `key` is asked for.
            if self._pending.pop(key, None) is not None:
                self._errors[key] = payload
            self._free.append(slot)
            return

    def _deliver(self, slot: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._layout.views(self._buffer, slot)
        x, y = x[:rows], y[:rows]
        if len(self._free) < 2:  # few slots left: hand out a copy, keep the slot
            x, y = x.copy(), y.copy()
            self._free.append(slot)
            return x, y
        views = _View(x), _View(y)
        self._leases[slot] = (weakref.ref(views[0]), weakref.ref(views[1]))
        return np.asarray(views[0]), np.asarray(views[1])


class ProcessPool(_Pool):
    """Computes `loader.load_batch(epoch, i)` in worker processes, into one shared-memory file.

    Args:
        loader: The `BatchLoader` (pickled to `spawn`/`forkserver` workers).
        workers: Number of processes.
        prefetch: Batches computed ahead of the one asked for.
        start_method: `multiprocessing` start method; None for the default.
    """

    def __init__(self, loader: BatchLoader, workers: int, prefetch: int, start_method: str | None = None):
        super().__init__(loader, workers, prefetch)
        self.start_method = start_method

    def _launch(self, layout: _Layout) -> None:
        ctx = multiprocessing.get_context(self.start_method)
        if ctx.get_start_method() != "fork":
            try:
                pickle.dumps(self.loader)
            except Exception as e:
                raise TypeError(
                    f"With start_method={ctx.get_start_method()!r} the loader is pickled into each worker, "
                    "so `augment` must be picklable (a module-level function or an Albumentations "
                    f"transform, not a lambda or a local function), or use start_method='fork'. "
                    f"Received: augment={getattr(self.loader.augmenter, 'augment', None)!r} ({e})"
                ) from e
        path = os.path.join(_shm_dir(), f"mixup_sequence-{os.getpid()}-{next(_names)}-{os.urandom(4).hex()}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, layout.total)
        finally:
            os.close(fd)
        try:
            self._mapped, self._buffer = _map_file(path, layout.total)
            self._tasks = ctx.Queue()
            self._results = ctx.Queue()
            self._procs = []
            self._finalizer = weakref.finalize(self, _stop, self._procs, self._tasks, self._results)
            _threads.limit_opencv_threads_for_workers()  # before fork; children inherit it
            for worker_id in range(self.workers):
                proc = ctx.Process(  # type: ignore[attr-defined]
                    target=_worker_main,
                    args=(self.loader, path, layout, self._tasks, self._results, worker_id),
                    name=f"mixup_sequence-worker-{worker_id}",
                    daemon=True,
                )
                proc.start()
                self._procs.append(proc)
            self._wait_ready()
        except BaseException:
            if self._finalizer is not None:
                self._finalizer()  # stop the workers that did start
            self._finalizer = None
            self.__dict__.pop("_layout", None)
            raise
        finally:
            os.unlink(path)  # every worker has it mapped (or has failed): nothing to leak

    def _wait_ready(self) -> None:
        ready = 0
        waited = 0.0
        while ready < self.workers:
            try:
                kind, worker_id, _, detail = self._results.get(timeout=_POLL_S)
            except queue.Empty:
                waited += _POLL_S
                self._check_alive("starting")
                if waited > _READY_TIMEOUT_S:
                    raise WorkerError(f"Data-loading workers did not start within {_READY_TIMEOUT_S:.0f} s.") from None
                continue
            if kind == "failed":
                raise WorkerError(f"Data-loading worker {worker_id} could not map shared memory: {detail}")
            ready += 1

    def _dead_worker(self) -> str | None:
        for proc in self._procs:
            code = proc.exitcode
            if code is not None:
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                return f"(pid {proc.pid}) died with {how}"
        return None


class ThreadPool(_Pool):
    """Computes `loader.load_batch(epoch, i)` in worker threads, into one private buffer.

    OpenCV and NumPy release the interpreter lock while they work, so the
    threads decode, resize and mix in parallel; each runs its own copy of
    the augmentation pipeline (see `augment.py`).

    Args:
        loader: The `BatchLoader`.
        workers: Number of threads.
        prefetch: Batches computed ahead of the one asked for.
    """

    def _launch(self, layout: _Layout) -> None:
        self._buffer = np.empty(layout.total, dtype=np.uint8)
        self._tasks = queue.SimpleQueue()
        self._results = queue.SimpleQueue()
        self._procs = []
        self._finalizer = weakref.finalize(self, _stop_threads, self._procs, self._tasks)
        _threads.limit_opencv_threads_for_workers()
        for worker_id in range(self.workers):
            thread = threading.Thread(
                target=_thread_main,
                args=(self.loader, self._buffer, layout, self._tasks, self._results),
                name=f"mixup_sequence-worker-{worker_id}",
                daemon=True,
            )
            thread.start()
            self._procs.append(thread)

    def _dead_worker(self) -> str | None:
        for thread in self._procs:
            if not thread.is_alive():
                return f"(thread {thread.name}) stopped"
        return None


def _stop(procs: list[Any], tasks: Any, results: Any) -> None:
    """Stops workers: a polite `None` each, then terminate, then kill."""
    for _ in procs:
        try:
            tasks.put(None)
        except (OSError, ValueError):
            break
    for proc in procs:
        proc.join(timeout=2)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join()
    for q in (tasks, results):
        q.cancel_join_thread()
        q.close()


def _stop_threads(threads: list[threading.Thread], tasks: Any) -> None:
    """Stops worker threads: a `None` each; each finishes the batch it is on first."""
    for _ in threads:
        tasks.put(None)
    for thread in threads:
        if thread is not threading.current_thread():  # a collection may run this in a worker
            thread.join(timeout=_STOP_TIMEOUT_S)  # daemon threads: one stuck in a user's augment is left behind
