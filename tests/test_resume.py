"""Exact resume: 4 epochs in one go equal 2 epochs, a new process, and 2 more."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")


def leg(workdir, step):
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "resume_child.py"), DATA, str(workdir), step],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(workdir / f"{step}.npz") as f:
        return [f[k] for k in sorted(f.files) if k.startswith("arr_")], int(f["epoch"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("resume")
    full = leg(workdir, "full")
    leg(workdir, "first")
    return workdir, full


@pytest.mark.parametrize("step", ["backup", "checkpoint"])
def test_resumed_run_ends_with_identical_weights(runs, step):
    workdir, (full, full_epoch) = runs
    resumed, epoch = leg(workdir, step)
    assert full_epoch == epoch == 4
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a, b)


def test_without_sync_the_resumed_run_differs(runs):
    workdir, (full, _) = runs
    resumed, _ = leg(workdir, "checkpoint-nosync")
    assert not all(np.array_equal(a, b) for a, b in zip(full, resumed))
