"""Two hosts on loopback on Keras 3: JAX, `keras.distribution.DataParallel`, one shard a host."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")
CHILD = os.path.join(HERE, "multihost_jax_child.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_hosts(workdir, step, kill=None):
    """Runs the two hosts of one leg; returns what each recorded (None for a leg killed on purpose)."""
    port = free_port()
    procs = []
    for index in range(2):
        args = [sys.executable, CHILD, DATA, str(workdir), step, str(port), str(index), *([kill] if kill else [])]
        with open(workdir / f"{step}-{index}.log", "w") as log:
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:  # a host waiting for a dead peer would wait forever
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for index, code in enumerate(codes):
        assert code == (3 if kill else 0), (workdir / f"{step}-{index}.log").read_text()[-3000:]
    if kill:
        return None
    return [json.loads((workdir / f"{step}-{index}.json").read_text()) for index in range(2)]


def final_weights(workdir, name):
    with np.load(workdir / f"{name}.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.fail("jax is not installed (make venv installs it)")
    workdir = tmp_path_factory.mktemp("multihost_jax")
    return workdir, run_hosts(workdir, "full")


def test_each_host_trains_its_whole_shard_in_order(runs):
    _, hosts = runs
    for index, h in enumerate(hosts):
        assert (h["process_index"], h["process_count"], h["local_devices"]) == (index, 2, 1)
        assert h["worker_mode"] == "processes"
        assert h["epoch"] == 2
        assert h["batches"] == 10
        # Recorded inside the compiled train step, on this host's device: exactly its shard's batches.
        assert h["trained"] == h["expected"][0] + h["expected"][1]
    assert hosts[0]["expected"] != hosts[1]["expected"]


def test_the_global_batch_is_the_hosts_batches_in_process_order(runs):
    _, hosts = runs
    local = [h["expected"][0] + h["expected"][1] for h in hosts]
    assert hosts[0]["halves"] == [list(pair) for pair in zip(*local)]


def test_the_hosts_hold_one_model(runs):
    workdir, hosts = runs
    assert hosts[0]["weights"] == hosts[1]["weights"]
    assert len(hosts[0]["weights"]) == 2
    assert hosts[0]["weights"][0] != hosts[0]["weights"][1]
    for a, b in zip(final_weights(workdir, "full-0"), final_weights(workdir, "full-1")):
        np.testing.assert_array_equal(a, b)


def test_one_process_on_the_global_batches_trains_the_same_model(runs):
    # The global batch is the hosts' `batch_size`-sample batches together: one process that trains
    # on them concatenated reaches the same weights, but for the order of the float sums.
    workdir, _ = runs
    result = subprocess.run(
        [sys.executable, CHILD, DATA, str(workdir), "reference"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for a, b in zip(final_weights(workdir, "full-0"), final_weights(workdir, "reference-reference")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("epoch", [0, 1])
def test_the_shards_cover_every_sample_once(runs, epoch):
    _, hosts = runs
    seen = [k for h in hosts for batch in h["samples"][epoch] for k in batch]
    assert len(seen) == len(set(seen)) == 315 - 1  # the remainder, fewer than 2, is dropped


def test_keras_auto_sharding_refuses_the_sequence(runs):
    # `DataParallel()` defaults to auto_shard_dataset=True, which only a tf.data.Dataset can satisfy.
    _, hosts = runs
    for h in hosts:
        assert "auto_shard_dataset = False" in h["auto_shard_error"]


def test_a_run_killed_mid_epoch_resumes_in_step(runs):
    # A backup every 3 batches: ..., (1, 1), (1, 4). Both hosts are killed after batch (1, 6);
    # new processes resume at (1, 5) and train only (1, 5) to (1, 9).
    workdir, full = runs
    run_hosts(workdir, "mid", kill="1.6")
    resumed = run_hosts(workdir, "mid")
    for index, (h, f) in enumerate(zip(resumed, full)):
        assert h["epoch"] == 2
        assert h["trained"] == f["expected"][1][5:]
        assert h["weights"] == f["weights"][1:]
        for a, b in zip(final_weights(workdir, f"mid-{index}"), final_weights(workdir, f"full-{index}")):
            np.testing.assert_array_equal(a, b)
    assert resumed[0]["halves"] == [list(p) for p in zip(full[0]["expected"][1][5:], full[1]["expected"][1][5:])]
