"""Two hosts on loopback: one model trained with MultiWorkerMirroredStrategy, one shard a worker."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_workers(out, input_kind):
    """Runs the two workers; returns what each recorded."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "CUDA_VISIBLE_DEVICES": "",
        }
        child = os.path.join(HERE, "multiworker_child.py")
        args = [sys.executable, child, DATA, str(out / f"{index}.json"), input_kind]
        with open(out / f"{index}.log", "w") as log:
            procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:  # a worker waiting for a dead peer would wait forever
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for index, code in enumerate(codes):
        assert code == 0, (out / f"{index}.log").read_text()[-3000:]
    return [json.loads((out / f"{index}.json").read_text()) for index in range(2)]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    if importlib.util.find_spec("tf_keras") is None:
        pytest.fail("tf_keras is not installed (make venv installs it)")
    return run_workers(tmp_path_factory.mktemp("multiworker"), "distribute")


def test_each_replica_trains_its_whole_shard_in_order(workers):
    for w in workers:
        assert w["replicas"] == 2
        # Not split into half batches, not resharded: exactly the shard's batches, epoch by epoch.
        assert w["trained"] == w["expected"][0] + w["expected"][1]


def test_the_workers_hold_one_model(workers):
    assert workers[0]["weights"] == workers[1]["weights"]
    assert len(workers[0]["weights"]) == 2
    assert workers[0]["weights"][0] != workers[0]["weights"][1]


@pytest.mark.parametrize("epoch", [0, 1])
def test_the_shards_cover_every_sample_once(workers, epoch):
    samples = workers[0]["samples"]
    assert samples == 315
    seen = [k for w in workers for batch in w["batch_samples"][epoch] for k in batch]
    assert len(seen) == len(set(seen)) == samples - 1  # the remainder, fewer than 2, is dropped


def test_the_sequence_passed_to_fit_directly_is_split_again(tmp_path):
    # What `distribute` prevents: tf.distribute splits each worker's batch across the replicas.
    for w in run_workers(tmp_path, "sequence"):
        assert not set(w["trained"]) & set(w["expected"][0] + w["expected"][1])
