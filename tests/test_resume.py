"""Exact resume: 4 epochs in one go equal 2 epochs, a new process, and 2 more."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")


def leg(workdir, step, kill=None):
    """Runs one leg in a new process; returns (weights, final epoch, requested (epoch, batch) pairs)."""
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "resume_child.py"), DATA, str(workdir), step, *([kill] if kill else [])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if kill:
        assert result.returncode == 3, result.stderr[-3000:]
        return None
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(workdir / f"{step}.npz") as f:
        weights = [f[k] for k in sorted(f.files) if k.startswith("arr_")]
        return weights, int(f["epoch"]), [tuple(p) for p in f["served"].tolist()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("resume")
    full = leg(workdir, "full")
    leg(workdir, "first")
    return workdir, full


@pytest.mark.parametrize("step", ["backup", "checkpoint"])
def test_resumed_run_ends_with_identical_weights(runs, step):
    workdir, (full, full_epoch, _) = runs
    resumed, epoch, _ = leg(workdir, step)
    assert full_epoch == epoch == 4
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a, b)


def test_without_sync_the_resumed_run_differs(runs):
    workdir, (full, _, _) = runs
    resumed, _, _ = leg(workdir, "checkpoint-nosync")
    assert not all(np.array_equal(a, b) for a, b in zip(full, resumed))


def test_resume_mid_epoch_twice_skips_trained_batches_and_matches(runs):
    # 10 batches an epoch, a backup every 3 batches counted across epochs: after (0, 2), (0, 5),
    # (0, 8), (1, 1), (1, 4), ... The first run is killed after batch (1, 6), so the second resumes
    # at (1, 5); it backs up after (1, 7) and is killed after (1, 9); the third resumes at (1, 8).
    workdir, (full, _, full_served) = runs
    leg(workdir, "mid", kill="1.6")
    leg(workdir, "mid", kill="1.9")
    resumed, epoch, served = leg(workdir, "mid")
    assert epoch == 4
    # Batches (0, 0) and (0, 1) are TensorFlow's output-signature probe, made before training.
    assert served[:2] == [(0, 0), (0, 1)]
    assert served[2:] == [(1, 8), (1, 9)] + [(e, b) for e in (2, 3) for b in range(10)]
    assert full_served[2:] == [(e, b) for e in range(4) for b in range(10)]
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a, b)


def test_keras_backup_alone_retrains_the_interrupted_epoch(runs):
    workdir, (full, _, _) = runs
    leg(workdir, "mid-keras", kill="1.6")
    resumed, _, served = leg(workdir, "mid-keras")
    assert served[2:12] == [(1, b) for b in range(10)]  # the whole of epoch 1 again
    assert not all(np.array_equal(a, b) for a, b in zip(full, resumed))
