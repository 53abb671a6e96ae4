"""Persistent workers, processes or threads, that write batches into reused slots.

Keras' own `use_multiprocessing=True` starts a new pool every epoch and
pickles every float32 batch back through a pipe, which costs the parent
more CPU than decoding did; its threads restart every epoch too, wait
0.1 s for an empty queue at the end of each, and allocate a fresh batch
every time. `ProcessPool` and `ThreadPool` instead:

- start their workers once and keep them across epochs, prefetching into
  the next epoch. A worker process imports this package, not Keras, and
  `spawn`/`forkserver` workers do not re-import the user's script either
  unless `augment` is defined in it (see `_launch.py`; a warning says so);
- give each batch a slot in one buffer, written in place by the worker
  (`BatchLoader.load_batch(out=...)`) and handed to the caller as a
  zero-copy NumPy view. The slot is reused only after every array viewing
  it has been garbage-collected, so a batch held by Keras or TensorFlow is
  never overwritten. When few slots are free, batches are copied out
  instead, so a caller holding many batches cannot stall the pool;
- for processes, keep the slots in shared memory that has no name (a
  memfd, or an unlinked file in `/dev/shm`; see `_shm.py`), reserved before
  the workers start: nothing can be left behind, a small `/dev/shm` does
  not matter, and too little memory is a clear `WorkerError` before the
  first batch, not a worker killed by SIGBUS in the middle of one;
- check that their workers are alive while they wait: a worker that dies (say
  SIGKILL) raises `WorkerError` within a second instead of hanging, and an
  exception in a worker (a bad file, a failing augmentation) is raised in the
  caller with its type, notes and the worker's traceback;
- survive an interrupt at any moment: a call to `get` that does not
  complete (Ctrl-C's `KeyboardInterrupt`, or any other exception from
  inside the pool's bookkeeping) leaves the pool marked unsettled, and the
  next call retires those workers (processes are stopped; threads are told
  to stop and their buffer and queues are dropped, so a late result lands
  nowhere) and starts fresh ones. The interrupt itself propagates at once;
- ignore SIGINT in worker processes, so Ctrl-C reaches the caller; a worker
  whose parent has died (even by SIGKILL) exits within a second, so no
  orphan is ever left behind. Stopping happens in the process that started
  the workers only: a process forked from it by other code leaves them be.

Batches are still the pure function `loader.load_batch(epoch, i)`: which
worker computes one, and when, does not change a bit of it.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from mixup_sequence import _launch, _shm, _threads
from mixup_sequence.loader import BatchLoader

logger = logging.getLogger("mixup_sequence")

_READY_TIMEOUT_S = 120.0
_POLL_S = 0.5
_STOP_TIMEOUT_S = 10.0
_warned_main = False


class WorkerError(RuntimeError):
    """A data-loading worker process died or could not start."""


class _Layout:
    """Where slot `k`'s `x` and `y` live in the slots' buffer (for processes, the shared memory)."""

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


def _worker_main(
    loader: BatchLoader, memory: _shm.SharedMemory, layout: _Layout, tasks: Any, results: Any, worker_id: int
) -> None:
    _launch.reset_inherited_handlers()  # and SIGINT ignored: Ctrl-C is the parent's to handle
    _threads.limit_opencv_threads_for_workers()
    try:
        mapped, buffer = memory.map()
    except OSError as e:
        results.put(("failed", worker_id, None, repr(e)))
        return
    finally:
        memory.close()  # the mapping keeps the memory; a fork child's copy of the descriptor is not needed
    results.put(("ready", worker_id, None, None))
    parent = os.getppid()
    # A parent that died (even by SIGKILL) leaves the worker orphaned: do not linger.
    _serve(loader, buffer, layout, tasks, results, lambda: os.getppid() != parent, _portable_exception)
    del mapped, buffer  # unmapped with the process


class _WorkerThread(threading.Thread):
    """A worker thread that records when it stops, in `stopped`.

    `Thread.is_alive()` is not used: an exception from a signal handler
    (Ctrl-C) landing inside it can mark a live thread stopped for good
    (CPython 3.11's `_wait_for_tstate_lock`).
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.stopped.set()


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


def _death_advice(how: str) -> str:
    """What to do about a worker that died `how` ("signal SIGBUS", "exit code 1", ...)."""
    if how == "signal SIGBUS":
        return (
            " SIGBUS means a page of its memory could not be backed, usually shared memory that ran out "
            "(a full /dev/shm or tmpfs): give the container more shared memory (Docker: `--shm-size`) or "
            "memory, or lower `batch_size`, `max_queue_size` or `workers`."
        )
    if how == "signal SIGKILL":
        return (
            " SIGKILL usually comes from the kernel's out-of-memory killer (see `dmesg`) or a user; if it was "
            'memory, lower `batch_size`, `workers` or `max_queue_size`, or use `dtype="uint8"`.'
        )
    if how.startswith("exit code"):
        return " Its own error, if any, was printed on stderr."
    return ""


class _Pool:
    """Computes `loader.load_batch(epoch, i)` in workers, into reused slots (see the module docs).

    Subclasses start the workers (`_launch`) and say which one died (`_dead_worker`).

    Args:
        loader: The `BatchLoader`.
        workers: Number of workers.
        prefetch: Batches computed ahead of the one asked for.
    """

    # Set by `_launch`, once per start of the workers: the slots' memory, the queues to and
    # from the workers, the workers, and the finalizer that stops them.
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
        # False until a call has completed on the current workers, and again while a call is under
        # way: a call that never completes (an interrupt) leaves it False, and the next one restarts.
        self._settled = False
        self._finalizer: weakref.finalize | None = None
        self.reports: list[tuple[str, str]] = []  # (path, reason) of files replaced under on_error="skip"

    # --- life cycle -----------------------------------------------------------
    def _launch(self, layout: _Layout) -> None:
        """Starts the workers: sets `_buffer`, `_tasks`, `_results`, and `_procs` and `_finalizer` first."""
        raise NotImplementedError

    def _dead_worker(self) -> str | None:
        """Describes a worker that has died, if any."""
        raise NotImplementedError

    def _start(self) -> None:
        x_shape, y_shape = self.loader.batch_shapes()
        slots = self.prefetch + self.workers + 2
        layout = _Layout(x_shape, y_shape, slots, self.loader.options.dtype)
        self._leases = {}
        self._free = list(range(slots))
        self._pending: dict[tuple[int, int], int] = {}  # requested, not yet back
        self._done: dict[tuple[int, int], tuple[int, int]] = {}  # back: key -> (slot, rows)
        self._errors: dict[tuple[int, int], Any] = {}  # raised by a worker: key -> (pickled) error
        self._launch(layout)
        self._layout = layout
        logger.debug("Started %d workers, %d slots of %d bytes", self.workers, slots, layout.slot_bytes)

    def _retire(self, wait: bool = True) -> None:
        """Stops the current workers, if any, and forgets their batches; resumes if it was interrupted.

        With `wait=False`, worker threads are only told to stop (see `_stop_threads`).
        """
        self.__dict__.pop("_layout", None)
        finalizer = self._finalizer
        if finalizer is not None:
            info = finalizer.peek()
            if info is not None:
                _, stop, args, _ = info
                stop(*args, wait=wait)
                finalizer.detach()
            self._finalizer = None
        self._procs = []

    def close(self) -> None:
        """Stops the workers. Arrays already returned stay valid."""
        with self._lock:
            self._closed = True
            self._settled = False
            self._retire()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"A {type(self).__name__} cannot be pickled.")

    def take_reports(self) -> list[tuple[str, str]]:
        """Returns the `(path, reason)` of files replaced under on_error="skip" since the last call."""
        with self._lock:
            reports, self.reports = self.reports, []
        return reports

    # --- batches -----------------------------------------------------------------
    def _collect_freed(self) -> None:
        """Frees the slots whose handed-out arrays have all been collected."""
        for slot in [k for k, refs in self._leases.items() if all(r() is None for r in refs)]:
            del self._leases[slot]
            self._free.append(slot)

    def _check_alive(self, doing: str) -> None:
        dead = self._dead_worker()
        if dead is not None:
            busy = sorted(getattr(self, "_pending", {}))
            self._retire()  # the next call starts fresh workers
            raise WorkerError(
                f"A data-loading worker {dead} while {doing}; batches in flight (epoch, index): {busy[:8]}."
                + _death_advice(dead.rsplit(" with ", 1)[-1])
            )

    def _request(self, key: tuple[int, int]) -> bool:
        """Makes sure `key` is on its way; False if no slot is free for it."""
        if key in self._pending or key in self._done or key in self._errors:
            return True
        if not self._free:
            return False
        slot = self._free.pop()
        self._pending[key] = slot
        self._send((key[0], key[1], slot))
        return True

    def _send(self, task: tuple[int, int, int]) -> None:
        self._tasks.put(task)

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
            n = len(self.loader)
            if not 0 <= i < n:
                raise IndexError(f"Batch index out of range: expected 0 <= index < {n}. Received: {i}")
            if not self._settled:  # not started, or a call did not complete: start afresh
                self._retire(wait=False)
                self._start()
            self._settled = False
            kind, value = self._fetch(epoch, i)
            self._settled = True
            if kind == "here":  # the caller holds every slot: compute this one here
                return self.loader.load_batch(epoch, i, report=self.reports)
            if kind == "error":
                raise pickle.loads(value) if isinstance(value, bytes) else value
            return value

    def _fetch(self, epoch: int, i: int) -> tuple[str, Any]:
        """`("batch", (x, y))`, `("error", raised by the worker)`, or `("here", None)` if no slot is free."""
        self._check_alive("loading batches")  # a death is an error even if others cover for it
        self._collect_freed()
        self._drop_other_epochs(epoch)
        n = len(self.loader)
        key = (epoch, i)
        while not self._request(key):
            if self._done:  # evict a prefetched batch nobody asked for yet
                self._free.append(self._done.pop(next(iter(self._done)))[0])
            elif self._pending:
                self._receive(block=True)
            else:
                return "here", None
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
            return "error", self._errors.pop(key)
        slot, rows = self._done.pop(key)
        return "batch", self._deliver(slot, rows)

    def wait_idle(self) -> None:
        """Waits until no batch is being computed, prefetched ones included."""
        with self._lock:
            if not self._settled:  # never started, or interrupted: stop what may still run
                self._retire()
                return
            self._settled = False
            while self._pending:
                self._receive(block=True)
            self._settled = True

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
    """Computes `loader.load_batch(epoch, i)` in worker processes, into one block of shared memory.

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
        method = ctx.get_start_method()
        uses_main = method != "fork" and self._check_picklable(method)
        memory = None
        try:
            with _launch.signals_deferred():  # an interrupt must not lose the descriptor (and the memory) here
                memory = self._shared_memory(layout)
            self._mapped, self._buffer = memory.map()
            self._tasks = ctx.Queue()
            self._results = ctx.Queue()
            procs: list[Any] = []
            self._procs = procs
            self._finalizer = weakref.finalize(self, _stop, os.getpid(), procs, self._tasks, self._results)
            _threads.limit_opencv_threads_for_workers()  # before fork; children inherit it
            with _launch.main_hidden(hide=method != "fork" and not uses_main):
                for worker_id in range(self.workers):
                    proc = ctx.Process(  # type: ignore[attr-defined]
                        target=_worker_main,
                        args=(self.loader, memory, layout, self._tasks, self._results, worker_id),
                        name=f"mixup_sequence-worker-{worker_id}",
                        daemon=True,
                    )
                    procs.append(proc)  # before it starts: a stop always sees it
                    with _launch.signals_deferred():
                        proc.start()
                        _launch.track(proc)
            memory.close()  # every worker has its own descriptor now
            self._wait_ready()
        except Exception:
            self._retire()  # stop the workers that did start (an interrupt leaves that to the next call)
            raise
        finally:
            if memory is not None:
                memory.close()

    def _send(self, task: tuple[int, int, int]) -> None:
        # `multiprocessing.Queue.put` takes a lock in Python code: an interrupt at the wrong moment
        # would leave it held, and the next `put` (the one that stops the workers) would wait forever.
        with _launch.signals_deferred():
            self._tasks.put(task)

    def _check_picklable(self, method: str) -> bool:
        """Checks that the loader can be pickled into a worker; returns whether it needs `__main__`."""
        augment = getattr(self.loader.augmenter, "augment", None)
        try:
            found = _launch.main_reference(self.loader)
        except Exception as e:
            raise TypeError(
                f"With start_method={method!r} the loader is pickled into each worker, "
                "so `augment` must be picklable (a module-level function or an Albumentations "
                f"transform, not a lambda or a local function), or use start_method='fork'. "
                f"Received: augment={augment!r} ({e})"
            ) from e
        if found is None:
            return False
        if not _launch.main_is_importable():
            raise TypeError(
                f"With start_method={method!r} each worker imports what the loader refers to, but "
                f"`{found}` is defined in an interactive session (a notebook or the REPL), which a worker "
                "cannot import: define it in a module (a .py file) and import it from there, or use "
                f"start_method='fork'. Received: augment={augment!r}"
            )
        global _warned_main
        if not _warned_main:
            _warned_main = True
            logger.warning(
                "`%s` is defined in the script being run, so each %s worker process re-imports that script "
                "and everything it imports at the top (Keras, TensorFlow, ...), which can take seconds and "
                "hundreds of MB per worker. Define it in a module of its own (say augmentations.py next to "
                "the script) and import it from there: workers then import only that module.",
                found,
                method,
            )
        return True

    def _shared_memory(self, layout: _Layout) -> _shm.SharedMemory:
        try:
            return _shm.allocate(layout.total)
        except _shm.NoRoom as e:
            megabytes = -(-layout.total // 2**20)
            smaller = ', pass `dtype="uint8"` (a quarter of the bytes)' if layout.x_dtype == np.float32 else ""
            raise WorkerError(
                f"The data-loading worker processes need {layout.total:,} bytes of shared memory for their "
                f"batches ({layout.slots} slots, each x {layout.x_shape} {layout.x_dtype} and y {layout.y_shape} "
                f"float32), and none could be reserved: {'; '.join(e.tried)}. Give the container more shared "
                f"memory (Docker: `docker run --shm-size={megabytes + 64}m`; Kubernetes: an emptyDir volume with "
                "`medium: Memory` mounted on /dev/shm) or more memory; or lower `batch_size`, `max_queue_size` "
                f"or `workers`{smaller}, or use worker threads (`use_multiprocessing=False`)."
            ) from None

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

    _procs: list[_WorkerThread]

    def _launch(self, layout: _Layout) -> None:
        self._buffer = np.empty(layout.total, dtype=np.uint8)
        self._tasks = queue.SimpleQueue()
        self._results = queue.SimpleQueue()
        threads: list[_WorkerThread] = []
        self._procs = threads
        self._finalizer = weakref.finalize(self, _stop_threads, os.getpid(), threads, self._tasks)
        _threads.limit_opencv_threads_for_workers()
        for worker_id in range(self.workers):
            thread = _WorkerThread(
                target=_thread_main,
                args=(self.loader, self._buffer, layout, self._tasks, self._results),
                name=f"mixup_sequence-worker-{worker_id}",
                daemon=True,
            )
            threads.append(thread)  # before it starts: a stop always sees it
            with _launch.signals_deferred():  # an interrupt in `start` can leave the new thread stuck
                thread.start()

    def _dead_worker(self) -> str | None:
        for thread in self._procs:
            if thread.stopped.is_set():
                return f"(thread {thread.name}) stopped"
        return None


def _stop(owner: int, procs: list[Any], tasks: Any, results: Any, wait: bool = True) -> None:
    """Stops worker processes: a polite `None` each, then terminate, then kill; always waits for them.

    Safe to run again after an interruption. Does nothing in a process other
    than `owner` (a copy of the pool in a process forked by other code).
    """
    if os.getpid() != owner:
        return
    with _launch.signals_deferred():  # see `ProcessPool._send`
        for _ in procs:
            try:
                tasks.put(None)
            except (OSError, ValueError):
                break
    started = [proc for proc in procs if proc.pid is not None]
    for proc in started:
        proc.join(timeout=2)
    for proc in started:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join()
    procs.clear()
    with _launch.signals_deferred():  # `close` takes the same lock as `put`
        for q in (tasks, results):
            q.cancel_join_thread()
            q.close()


def _stop_threads(owner: int, threads: list[_WorkerThread], tasks: Any, wait: bool = True) -> None:
    """Stops worker threads: drops the tasks not started, then a `None` each; each finishes its batch first.

    With `wait`, waits for them (up to `_STOP_TIMEOUT_S` each); without, they
    stop by themselves. Does nothing in a process other than `owner`.
    """
    if os.getpid() != owner:
        return
    try:
        while True:  # batches asked for and not started yet: nobody will read them now
            tasks.get_nowait()
    except queue.Empty:
        pass
    for _ in threads:
        tasks.put(None)
    if wait:
        for thread in threads:
            if (
                thread is not threading.current_thread() and thread.ident is not None
            ):  # a collection may run this in a worker
                thread.join(timeout=_STOP_TIMEOUT_S)  # daemon threads: one stuck in a user's augment is left behind
    threads.clear()
