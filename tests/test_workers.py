"""The sequence's own worker processes and threads: exact batches, zero-copy lifetime, failures, cleanup."""

import gc
import multiprocessing
import os
import signal
import time

import albumentations as A
import numpy as np
import pytest

from mixup_sequence import WorkerError, index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool, ThreadPool


def make_loader(root, **options):
    opts = {"batch_size": 4, "image_size": (8, 8), **options}
    augment = A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-20, 20), p=0.7)])
    return BatchLoader(index_directory(root), LoaderOptions(**opts), 11, augment=augment, mix=MixConfig(0.4, 1.0))


def our_files():
    """This process's shared-memory files (other test runs on the machine may have their own)."""
    if not os.path.isdir("/dev/shm"):
        return []
    return [f for f in os.listdir("/dev/shm") if f.startswith(f"mixup_sequence-{os.getpid()}-")]


@pytest.fixture
def pool_factory():
    pools = []

    def make(loader, workers=2, prefetch=3, start_method="fork"):
        """`start_method="threads"` makes a `ThreadPool`."""
        if start_method == "threads":
            pool = ThreadPool(loader, workers, prefetch)
        else:
            pool = ProcessPool(loader, workers, prefetch, start_method)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn", "threads"])
def test_batches_equal_serial_in_every_start_method(textured_tree, pool_factory, start_method):
    loader = make_loader(textured_tree)
    pool = pool_factory(loader, start_method=start_method)
    for epoch in (0, 1):
        for i in [*range(len(loader)), 3, 0]:  # in order, then out of order
            x, y = pool.get(epoch, i)
            rx, ry = loader.load_batch(epoch, i)
            np.testing.assert_array_equal(x, rx)
            np.testing.assert_array_equal(y, ry)
    assert not our_files()  # the shared file's name is gone once workers have mapped it


@pytest.mark.parametrize("start_method", ["fork", "threads"])
def test_uint8_batches_through_the_pools(textured_tree, pool_factory, start_method):
    # 5 x 7 x 7 x 1 = 245 bytes of x: the float32 y after it must still be 4-byte aligned.
    loader = make_loader(textured_tree, batch_size=5, image_size=(7, 7), color_mode="grayscale", dtype="uint8")
    pool = pool_factory(loader, start_method=start_method)
    for i in range(len(loader)):  # the last batch is short
        x, y = pool.get(2, i)
        rx, ry = loader.load_batch(2, i)
        assert x.dtype == np.uint8 and y.dtype == np.float32 and y.ctypes.data % 4 == 0
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)


@pytest.mark.parametrize("start_method", ["fork", "threads"])
def test_held_batches_are_never_overwritten(textured_tree, pool_factory, start_method):
    loader = make_loader(textured_tree, batch_size=2)
    pool = pool_factory(loader, prefetch=2, start_method=start_method)
    held = [pool.get(e, i) for e in range(3) for i in range(len(loader))]  # far more than the slots
    expected = [loader.load_batch(e, i) for e in range(3) for i in range(len(loader))]
    for (x, y), (rx, ry) in zip(held, expected):
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    del held
    gc.collect()
    x, _ = pool.get(5, 1)
    np.testing.assert_array_equal(x, loader.load_batch(5, 1)[0])


@pytest.mark.parametrize("start_method", ["fork", "threads"])
def test_worker_error_keeps_type_notes_and_traceback(textured_tree, pool_factory, start_method):
    victim = sorted((textured_tree / "b").iterdir())[0]
    victim.write_bytes(b"not an image")
    loader = make_loader(textured_tree, batch_size=18, shuffle=False)
    pool = pool_factory(loader, start_method=start_method)
    with pytest.raises(OSError) as info:
        pool.get(0, 0)
    notes = "\n".join(info.value.__notes__)
    assert victim.name in str(info.value)
    assert "class 'b'" in notes and "Traceback in data-loading worker" in notes and "decode.py" in notes
    victim.unlink()  # the pool keeps working after a reported error
    with pytest.raises(OSError):
        pool.get(1, 0)  # the index still lists the file: it is missing now


def test_killed_worker_raises_quickly_instead_of_hanging(textured_tree, pool_factory):
    loader = make_loader(textured_tree)
    pool = pool_factory(loader)
    pool.get(0, 0)
    victim = pool._procs[0].pid
    os.kill(victim, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(WorkerError, match=f"pid {victim}.*SIGKILL"):
        for epoch in range(1, 50):  # keep asking until the death is noticed
            for i in range(len(loader)):
                pool.get(epoch, i)
    assert time.monotonic() - start < 10
    # The next request starts a fresh pool.
    np.testing.assert_array_equal(pool.get(7, 2)[0], loader.load_batch(7, 2)[0])


@pytest.mark.parametrize("start_method", ["fork", "threads"])
def test_wait_idle_finishes_the_prefetch_and_keeps_it(textured_tree, pool_factory, start_method):
    loader = make_loader(textured_tree)
    pool = pool_factory(loader, prefetch=3, start_method=start_method)
    pool.wait_idle()  # before the pool has started: nothing to wait for
    last = len(loader) - 1
    pool.get(0, last)  # prefetches batches 0, 1 and 2 of epoch 1
    pool.wait_idle()
    assert not pool._pending
    assert sorted(pool._done) == [(1, 0), (1, 1), (1, 2)]
    np.testing.assert_array_equal(pool.get(1, 1)[0], loader.load_batch(1, 1)[0])


@pytest.mark.parametrize("start_method", ["fork", "threads"])
def test_close_stops_the_workers_and_leaves_no_shared_file(textured_tree, pool_factory, start_method):
    loader = make_loader(textured_tree)
    pool = pool_factory(loader, start_method=start_method)
    x, _ = pool.get(0, 1)
    workers = list(pool._procs)
    assert [w.name for w in workers] == ["mixup_sequence-worker-0", "mixup_sequence-worker-1"]
    pool.close()
    assert all(not w.is_alive() for w in workers)
    assert not our_files()
    np.testing.assert_array_equal(x, loader.load_batch(0, 1)[0])  # still readable after close
    with pytest.raises(RuntimeError, match="closed"):
        pool.get(0, 0)


class LocalError(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle LocalError")


def fail(image):
    raise LocalError("augment failed")


def test_thread_pool_raises_the_workers_own_exception_object(textured_tree):
    index = index_directory(textured_tree)
    loader = BatchLoader(index, LoaderOptions(batch_size=4, image_size=(8, 8)), 1, augment=fail)
    threaded = ThreadPool(loader, 2, 2)
    forked = ProcessPool(loader, 2, 2, "fork")
    try:
        with pytest.raises(LocalError, match="augment failed") as info:
            threaded.get(0, 0)  # not picklable: a thread hands over the object itself
        threads = list(threaded._procs)
        assert "Traceback in data-loading worker (thread mixup_sequence-worker-" in "\n".join(info.value.__notes__)
        with pytest.raises(RuntimeError, match="LocalError: augment failed"):
            forked.get(0, 0)  # a process can only send a stand-in
    finally:
        threaded.close()
        forked.close()
    assert not any(t.is_alive() for t in threads)


def test_unpicklable_augment_with_spawn_is_explained(textured_tree):
    index = index_directory(textured_tree)
    loader = BatchLoader(index, LoaderOptions(batch_size=4, image_size=(8, 8)), 1, augment=lambda x: x)
    pool = ProcessPool(loader, 1, 1, "spawn")
    with pytest.raises(TypeError, match="must be picklable.*start_method='fork'"):
        pool.get(0, 0)
    pool.close()


class _FailsInChild:
    """Pickles fine, but cannot be unpickled: a worker dies while starting."""

    def __init__(self):
        self.state = 1

    def __call__(self, image):
        return image

    def __setstate__(self, state):
        raise RuntimeError("cannot start here")


def test_worker_that_dies_while_starting_raises_and_leaves_nothing(textured_tree):
    from conftest import alive

    index = index_directory(textured_tree)
    loader = BatchLoader(index, LoaderOptions(batch_size=4, image_size=(8, 8)), 1, augment=_FailsInChild())
    before = {p.pid for p in multiprocessing.active_children()}  # other tests' pools may still be alive
    pool = ProcessPool(loader, 2, 1, "spawn")
    with pytest.raises(WorkerError, match="while starting"):
        pool.get(0, 0)
    started = [p for p in multiprocessing.active_children() if p.pid not in before]
    assert not any(alive(p.pid) for p in started)
    assert not our_files()
    pool.close()
