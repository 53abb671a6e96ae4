"""Keras 2 (tf_keras): fit(seq.for_tf_keras(), workers=2, use_multiprocessing=True) works, epochs stay right."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")


def fit(tmp_path, workers, use_multiprocessing):
    out = tmp_path / f"w{workers}{use_multiprocessing}.npz"
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "keras2_child.py"), DATA, str(workers), use_multiprocessing, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        return [f[k] for k in sorted(f.files) if k.startswith("arr_")], int(f["epoch"])


def test_tf_keras_fit_in_processes_matches_serial(tmp_path):
    serial, serial_epoch = fit(tmp_path, 1, "0")
    processes, processes_epoch = fit(tmp_path, 2, "1")
    threads, threads_epoch = fit(tmp_path, 2, "0")
    # Keras 2 calls on_epoch_end twice per epoch with workers; the epoch still advances once.
    assert serial_epoch == processes_epoch == threads_epoch == 3
    for a, b, c in zip(serial, processes, threads):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
