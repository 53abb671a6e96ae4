"""Ctrl-C while `get` waits on the workers, at any moment: the interrupt reaches the caller at once, and
the same pool then serves every batch again, bit for bit; and nothing of the pool runs in a process
forked by other code, or loses a skipped file's report to another thread."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import albumentations as A
import numpy as np
import pytest
from conftest import make_tree

from mixup_sequence import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool, ThreadPool

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = 120


def make_loader(root, **options):
    opts = {"batch_size": 3, "image_size": (8, 8), **options}
    augment = A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-20, 20), p=0.7)])
    return BatchLoader(index_directory(root), LoaderOptions(**opts), 11, augment=augment, mix=MixConfig(0.4, 1.0))


def children():
    """Pids of this process's children, zombies included."""
    me, found = str(os.getpid()), set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            found.add(int(entry))
    return found


def worker_threads():
    return {t for t in threading.enumerate() if t.name.startswith("mixup_sequence-worker")}


# An interrupt that lands in a `__del__` or weakref callback (the interpreter's, multiprocessing's)
# is swallowed there and reported as unraisable: Python's rule, not the pool's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_random_interrupts_then_every_batch_is_exact(textured_tree, mode):
    loader = make_loader(textured_tree)
    before_children, before_threads = children(), worker_threads()
    pool = ProcessPool(loader, 2, 3, "fork") if mode == "processes" else ThreadPool(loader, 2, 3)
    rng = np.random.default_rng(1915)
    armed = False

    def interrupt(signum, frame):
        if armed:  # a late alarm, after the round is over, does nothing
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    interrupted = 0
    try:
        for round_ in range(ROUNDS):
            if round_ % 4:  # most interrupts land in a settled pool; every 4th in one still restarting
                pool.get(int(rng.integers(0, 3)), int(rng.integers(0, len(loader))))
            epoch, i = int(rng.integers(0, 3)), int(rng.integers(0, len(loader)))
            delay = float(rng.uniform(0, 0.002))
            try:
                armed = True
                signal.setitimer(signal.ITIMER_REAL, delay)
                x, y = pool.get(epoch, i)
                armed = False
            except KeyboardInterrupt:
                armed = False
                interrupted += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert interrupted > 0  # the alarms did land inside `get`
    try:
        for epoch in (0, 1, 2, 5):  # every batch, in order and then out of order
            for i in [*range(len(loader)), *reversed(range(len(loader)))]:
                x, y = pool.get(epoch, i)
                rx, ry = loader.load_batch(epoch, i)
                np.testing.assert_array_equal(x, rx)
                np.testing.assert_array_equal(y, ry)
    finally:
        pool.close()
    # Nothing left: every worker ever started has stopped and been reaped.
    deadline = time.monotonic() + 10
    while (children() - before_children or worker_threads() - before_threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not children() - before_children
    assert not worker_threads() - before_threads


def test_a_process_forked_by_other_code_leaves_the_workers_alone(textured_tree):
    # The child exits normally, so it runs the exit handlers (`weakref.finalize`'s and
    # multiprocessing's), which used to stop the parent's workers and print AssertionErrors.
    code = textwrap.dedent(
        f"""
        import os, sys
        import numpy as np
        sys.path.insert(0, {HERE!r})
        from test_interrupts import make_loader
        from mixup_sequence.workers import ProcessPool, ThreadPool

        loader = make_loader({str(textured_tree)!r})
        pools = [ProcessPool(loader, 2, 2, "fork"), ThreadPool(loader, 2, 2)]
        for pool in pools:
            pool.get(0, 0)
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        for pool in pools:
            for i in range(len(loader)):
                x, y = pool.get(1, i)
                assert np.array_equal(x, loader.load_batch(1, i)[0])
            assert all(p.is_alive() for p in pool._procs)
            pool.close()
        print("served after the fork")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served after the fork" in done.stdout
    assert "Traceback" not in done.stderr and "AssertionError" not in done.stderr, done.stderr[-3000:]


def test_reports_arriving_while_a_thread_records_its_own_are_not_lost(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    from mixup_sequence import ImageFolderSequence

    root = make_tree(tmp_path / "data", {"cat": 24, "dog": 24})
    for name in ("img_000.png", "img_020.png"):  # in batches 0 and 10 (unshuffled, 2 a batch)
        (root / "cat" / name).write_bytes(b"not an image")
    seq = ImageFolderSequence(root, batch_size=2, image_size=(8, 8), on_error="skip", shuffle=False, workers=2, seed=3)
    record = seq._record_bad_files
    others = []

    def record_while_another_thread_loads(report):
        record(report)
        if not others:  # meanwhile, another thread's batch 10 comes back with its own report
            others.append(threading.Thread(target=seq._pool.get, args=(0, 10)))
            others[0].start()
            others[0].join()

    monkeypatch.setattr(seq, "_record_bad_files", record_while_another_thread_loads)
    try:
        seq[0]
        seq[1]  # a later batch picks up what arrived meanwhile
    finally:
        seq.close()
    assert sorted(os.path.basename(p) for p in seq.bad_files) == ["img_000.png", "img_020.png"]
