"""Starting worker processes: without re-importing the user's script, and without losing one.

- A `spawn` or `forkserver` worker first runs `multiprocessing`'s
  preparation, which re-imports the parent's `__main__` module (the
  training script, and with it Keras and TensorFlow: seconds and hundreds
  of MB per worker) so that objects defined there can be unpickled. The
  worker's loader needs that only if it refers to something defined in
  `__main__`, such as an `augment` function written in the script:
  `main_reference` tells, and `main_hidden` hides `__main__` from the
  preparation while the workers start.
- `signals_deferred` holds back Python-level signal handlers (Ctrl-C's
  `KeyboardInterrupt`) while one process starts, and runs them right
  after: an exception between the fork and `multiprocessing` recording
  the child would leave a process that nothing tracks.
- `track` keeps a worker out of the children that a process forked by the
  user's own code (`os.fork()`) inherits: at its exit, `multiprocessing`
  would otherwise terminate the parent's workers and fail to join them.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from multiprocessing import process, reduction
from typing import Any

_MAIN = "__main__"


class _MainFinder(reduction.ForkingPickler):
    """Pickles as a worker's start does, noting the first object it meets that lives in `__main__`."""

    def __init__(self, file: io.BytesIO):
        super().__init__(file)
        self.found: str | None = None

    def reducer_override(self, obj: Any) -> Any:
        if self.found is None:
            try:
                if getattr(obj, "__module__", None) == _MAIN and hasattr(obj, "__qualname__"):
                    self.found = f"{_MAIN}.{obj.__qualname__}"
            except Exception:  # an object whose attribute lookup fails: pickling will say so, if it matters
                pass
        return NotImplemented


def main_reference(obj: Any) -> str | None:
    """Pickles `obj`; returns the name of a class or function from `__main__` it refers to, if any.

    Raises what pickling raises for an object that cannot be pickled.
    """
    finder = _MainFinder(io.BytesIO())
    finder.dump(obj)
    return finder.found


def main_is_importable() -> bool:
    """Whether a spawned process could import `__main__`: a script or `-m` module, not a REPL or notebook."""
    main = sys.modules.get(_MAIN)
    return main is not None and (getattr(main, "__spec__", None) is not None or hasattr(main, "__file__"))


class _MainStandIn(types.ModuleType):
    """`__main__` as multiprocessing's preparation must see it: no `__file__`, no `__spec__`.

    Every other attribute comes from the real module, so code in other
    threads (pickling an object of the script, say) works meanwhile.
    """

    def __init__(self, real: types.ModuleType):
        super().__init__(_MAIN)
        self.__dict__["_mixup_sequence_real_main"] = real

    def __getattr__(self, name: str) -> Any:
        if name == "__file__":
            raise AttributeError(name)
        return getattr(self.__dict__["_mixup_sequence_real_main"], name)


def _restore_main() -> None:
    main = sys.modules.get(_MAIN)
    if isinstance(main, _MainStandIn):  # left by an interrupted `main_hidden`
        sys.modules[_MAIN] = main.__dict__["_mixup_sequence_real_main"]


@contextlib.contextmanager
def main_hidden(hide: bool = True) -> Iterator[None]:
    """While it is open, processes started with spawn or forkserver do not import `__main__`.

    The forkserver's server process, if this starts it, does not either.
    """
    _restore_main()
    real = sys.modules.get(_MAIN)
    if not hide or real is None:
        yield
        return
    stand_in = _MainStandIn(real)
    sys.modules[_MAIN] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(_MAIN) is stand_in:
            sys.modules[_MAIN] = real


_SIGNALS = sorted(int(sig) for sig in signal.valid_signals())  # as plain numbers: `valid_signals()` is slow


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Runs the Python-level signal handlers that fire while it is open only when it closes."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only: none can interrupt this one
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if signum not in held:
            held.append(signum)

    previous: dict[int, Any] = {}
    try:
        for sig in _SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):  # only a Python-level handler can raise in this thread
                previous[sig] = handler
                signal.signal(sig, hold)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in held:
            signal.raise_signal(number)


def reset_inherited_handlers() -> None:
    """In a worker: default handling for every signal a forked worker inherited a Python handler for.

    The parent's handlers (a training script's own SIGTERM handler, or
    `signals_deferred`'s) have no business in a worker; SIGINT is ignored,
    as Ctrl-C is the parent's to handle.
    """
    for sig in _SIGNALS:
        if callable(signal.getsignal(sig)):
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_tracked: weakref.WeakSet[Any] = weakref.WeakSet()


def track(proc: Any) -> None:
    """Records a started worker process, so that a process forked by the user's code forgets it."""
    _tracked.add(proc)


def _forget_in_forked_child() -> None:
    # `multiprocessing.process._children` is the set `active_children()` and the exit handler use
    # (CPython 3.11-3.14); a process started by multiprocessing resets it itself, `os.fork()` does not.
    children = getattr(process, "_children", None)
    if isinstance(children, set):
        children.difference_update(list(_tracked))
    _tracked.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_forked_child)
