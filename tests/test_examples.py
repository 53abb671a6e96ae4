"""The main job runs end to end (a short version), so `make demo` cannot rot."""

import importlib.util
import os

import cv2
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_example_runs_and_saves_a_grid(tmp_path):
    spec = importlib.util.spec_from_file_location("train_example", os.path.join(ROOT, "examples", "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "grid.png"
    accuracy = module.main(["--epochs", "1", "--workers", "2", "--out", str(out)])
    assert 0.0 <= accuracy <= 1.0
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[0] > 32 and grid.shape[1] >= 8 * 32
