"""fit on the TensorFlow, JAX and PyTorch backends, in every worker mode: the same batches, bit for bit."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def run_child(backend, mode, start_method=None):
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        pytest.fail(f"the {backend} backend is not installed (make venv installs it)")
    env = {**os.environ, "KERAS_BACKEND": backend}
    args = [sys.executable, os.path.join(HERE, "backend_child.py"), DATA, mode]
    if start_method:
        args.append(start_method)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference():
    return run_child("tensorflow", "serial")


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
@pytest.mark.parametrize("mode", ["serial", "threads", "processes"])
def test_same_batches_on_every_backend_and_mode(reference, backend, mode):
    got = reference if (backend, mode) == ("tensorflow", "serial") else run_child(backend, mode)
    assert got["backend"] == backend
    assert got["epoch"] == 3
    expected = {k: v for k, v in reference["served"].items()}
    # Every batch of epochs 0 and 1 was served, and each is bit-identical to the reference.
    assert {f"{e}:{i}" for e in (0, 1) for i in range(8)} <= got["served"].keys()
    # Epoch 2, resumed at batch 5: batches 5-7 trained, 2-4 never loaded (0 and 1 are
    # TensorFlow's output-signature probe when the second fit starts).
    assert {"2:5", "2:6", "2:7"} <= got["served"].keys()
    assert not {"2:2", "2:3", "2:4"} & got["served"].keys()
    for key, digest in got["served"].items():
        assert digest == expected[key], key


def test_jax_with_forkserver_workers(reference):
    got = run_child("jax", "processes", "forkserver")
    for key, digest in got["served"].items():
        assert digest == reference["served"][key], key


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("mode", ["serial", "processes"])
def test_bad_file_arrives_as_our_error_type(backend, mode):
    # Without tf.data in between, the error reaches the caller as the library's own type.
    got = run_child(backend, f"fail-{mode}")
    assert got["type"] == "ImageDecodeError"
    assert "class '" in got["text"] and "batch 3 of epoch 0" in got["text"]
