"""Worker processes' shared memory: a small /dev/shm (as in a container), too little memory, SIGBUS advice.

A private mount namespace with a small tmpfs on /dev/shm stands in for a
Docker container's default 64 MB (`unshare -m`, as root; skipped, saying
why, where that is not permitted).
"""

import faulthandler
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import alive, make_tree

from mixup_sequence import WorkerError, _shm, index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "shm_child.py")
# 8 slots (prefetch 4 + 2 workers + 2) of x (64, 224, 224, 3) float32 and y (64, 2): 4.6 times 64 MB.
TWO_WORKERS_BYTES = 8 * (-(-(64 * 224 * 224 * 3 * 4 + 64 * 2 * 4) // 4096) * 4096)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """128 small images in two classes: two batches of 64."""
    return make_tree(tmp_path_factory.mktemp("shm") / "data", {"cat": 64, "dog": 64})


def _small_shm_or_skip(size):
    if shutil.which("unshare") is None:
        pytest.skip("needs `unshare` (util-linux) for a private mount namespace")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size={size} tmpfs /dev/shm"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"a private /dev/shm is not permitted here (needs root): {probe.stderr.strip()}")


def run_with_small_shm(size, *args):
    """Runs shm_child.py with a `size` tmpfs on /dev/shm; returns its report and what /dev/shm held after it."""
    _small_shm_or_skip(size)
    script = (
        f'mount -t tmpfs -o size={size} tmpfs /dev/shm && "$0" "$@" && echo "left in /dev/shm: [$(ls -A /dev/shm)]"'
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, sys.executable, CHILD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report_line, left_line = done.stdout.strip().splitlines()[-2:]
    return json.loads(report_line), left_line, done.stderr


@pytest.mark.parametrize(("start_method", "workers"), [("fork", 2), ("forkserver", 3)])
def test_workers_run_with_a_64_mb_dev_shm(photos, start_method, workers):
    report, left, _ = run_with_small_shm("64m", photos, start_method, workers, "memfd,file")
    assert "error" not in report, report.get("error")
    assert report["batches"] == 4 and report["identical"]
    assert len(report["pids"]) == workers
    assert report["named_files"] == []  # no name in /dev/shm, even while running
    assert left == "left in /dev/shm: []"
    assert not any(alive(pid) for pid in report["pids"])


def test_the_dev_shm_file_is_reserved_and_nameless_where_memfd_is_left_out(photos):
    report, left, _ = run_with_small_shm("512m", photos, "spawn", 2, "file")
    assert "error" not in report, report.get("error")
    assert report["batches"] == 4 and report["identical"]
    assert report["named_files"] == []
    assert left == "left in /dev/shm: []"
    assert not any(alive(pid) for pid in report["pids"])


def test_too_small_dev_shm_is_a_clear_error_before_the_first_batch(photos):
    # memfd left out: only the 64 MB /dev/shm, as on a system without memfd_create.
    report, left, _ = run_with_small_shm("64m", photos, "fork", 2, "file")
    message = report["error"]
    assert report["batches"] == 0 and report["children"] == []  # no batch, no worker started
    assert f"need {TWO_WORKERS_BYTES:,} bytes of shared memory" in message
    free = int(re.search(r"/dev/shm: ([\d,]+) bytes free", message).group(1).replace(",", ""))
    assert 0 < free <= 64 * 2**20
    assert "--shm-size=" in message and "`batch_size`" in message and "`workers`" in message
    assert left == "left in /dev/shm: []"


def test_a_request_larger_than_memory_fails_before_taking_any(tmp_path):
    make_tree(tmp_path / "data", {"cat": 2, "dog": 2})
    # Slots of 10^12 bytes: more than any memory or /dev/shm here; refused before allocating a byte.
    options = LoaderOptions(batch_size=1_000_000, image_size=(1000, 1000), dtype="uint8")
    pool = ProcessPool(BatchLoader(index_directory(tmp_path / "data"), options, 1), 2, 4, "fork")
    try:
        with pytest.raises(WorkerError) as info:
            pool.get(0, 0)
    finally:
        pool.close()
    message = str(info.value)
    assert re.search(r"need [\d,]{17,} bytes of shared memory", message)
    assert re.search(r"memory \(memfd\): [\d,]+ bytes available", message)
    assert re.search(r"/dev/shm: [\d,]+ bytes free", message)
    assert not pool._procs


def test_allocate_tries_each_kind_and_says_what_each_had(monkeypatch):
    monkeypatch.setattr(_shm, "memory_available", lambda: 1000)
    monkeypatch.setattr(_shm, "_free_bytes", lambda folder: 2000)
    with pytest.raises(_shm.NoRoom) as info:
        _shm.allocate(4096)
    assert info.value.tried == ["memory (memfd): 1,000 bytes available", f"{_shm.shm_dir()}: 2,000 bytes free"]
    memory = _shm.allocate(1000)  # fits the memfd
    try:
        assert memory.where == "memory (memfd)" and os.fstat(memory.fd).st_size == 1000
        assert os.fstat(memory.fd).st_blocks * 512 >= 1000  # reserved, not sparse
    finally:
        memory.close()


def test_sigbus_is_explained_as_shared_memory(tmp_path):
    make_tree(tmp_path / "data", {"cat": 4, "dog": 4})
    loader = BatchLoader(index_directory(tmp_path / "data"), LoaderOptions(batch_size=2, image_size=(8, 8)), 1)
    pool = ProcessPool(loader, 2, 2, "fork")
    was_enabled = faulthandler.is_enabled()
    faulthandler.disable()  # pytest's, inherited by the forked workers: it would print the dying worker's stack
    try:
        pool.get(0, 0)
        os.kill(pool._procs[0].pid, signal.SIGBUS)
        with pytest.raises(WorkerError) as info:
            for epoch in range(1, 100):
                for i in range(len(loader)):
                    pool.get(epoch, i)
    finally:
        pool.close()
        if was_enabled:
            faulthandler.enable()
    message = str(info.value)
    assert "died with signal SIGBUS" in message and "shared memory" in message and "--shm-size" in message
    assert "killed for memory" not in message
