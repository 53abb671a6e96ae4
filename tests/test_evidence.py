"""The evidence script (examples/evidence.py) runs end to end in its quick form and writes well-formed outputs.

It checks the form of the report, not a result: two short epochs on 20 images per class prove nothing.
"""

import importlib.util
import json
import os
import re
import sys

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBER = r"(\d+\.\d+) ± (\d+\.\d+)"


def load_script():
    spec = importlib.util.spec_from_file_location("evidence_example", os.path.join(ROOT, "examples", "evidence.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


@pytest.fixture(scope="module")
def evidence():
    module = load_script()
    yield module
    sys.modules.pop("evidence_example", None)


@pytest.fixture(scope="module")
def quick_run(evidence, tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence")
    runs = evidence.main(["--quick", "--out", str(out)])
    return evidence, out, runs


def test_quick_run_covers_every_setting_once(quick_run):
    evidence, _, runs = quick_run
    settings = {(r.method, r.noise) for r in runs}
    assert settings == {(m.name, n) for m in evidence.METHODS for n in evidence.NOISE_LEVELS}
    assert len(runs) == len(settings)
    assert all(len(r.accuracy) == 2 for r in runs)


def test_markdown_has_a_row_of_fractions_per_setting(quick_run):
    evidence, out, _ = quick_run
    text = (out / "evidence.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| \d+% \|", line)]
    assert len(rows) == len(evidence.METHODS) * len(evidence.NOISE_LEVELS)
    for noise in evidence.NOISE_LEVELS:
        for method in evidence.METHODS:
            (row,) = [r for r in rows if r.startswith(f"| {round(100 * noise)}% | {method.name} |")]
            numbers = [float(v) for pair in re.findall(NUMBER, row) for v in pair]
            # last, best, ECE; plus the share of corrupted labels fit where there are any
            assert len(numbers) == (8 if noise > 0 else 6), row
            assert all(0.0 <= v <= 1.0 for v in numbers), row
    assert "Command: `python examples/evidence.py --quick --out " in text
    assert f"{os.cpu_count()} cores" in text
    assert re.search(r"Total wall time: \d+ s", text)
    assert "](evidence.png)" in text


def test_figure_decodes_and_shows_every_method(quick_run):
    evidence, out, _ = quick_run
    image = cv2.imread(str(out / "evidence.png"))
    assert image is not None and image.shape[0] >= 400 and image.shape[1] >= 800
    assert (image < 250).any(axis=2).mean() > 0.02  # far from blank
    for method in evidence.METHODS:  # each method's colour is drawn (legend and lines)
        assert (np.abs(image.astype(int) - method.colour).sum(axis=2) == 0).sum() > 100, method.name


def test_results_json_round_trips(quick_run):
    _, out, runs = quick_run
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert record["args"]["quick"] is True and record["args"]["epochs"] == 2
    assert [r["last"] for r in record["runs"]] == [r.last for r in runs]


def test_expected_calibration_error_by_hand(evidence):
    # Two predictions in the 0.6-bin (one right) and one in the top bin (right).
    probs = np.array([[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]])
    labels = np.array([0, 1, 1])
    # bin of 0.6: |0.5 - 0.6| * 2/3; bin of 1.0: |1 - 1| * 1/3
    assert evidence.expected_calibration_error(probs, labels) == pytest.approx(0.1 * 2 / 3)
    assert evidence.expected_calibration_error(np.eye(3), np.arange(3)) == 0.0


def test_label_noise_moves_exactly_the_share_to_other_classes(evidence):
    labels = np.repeat(np.arange(10), 50)
    noisy = evidence.corrupt_labels(labels, 0.4, np.random.default_rng(0))
    assert (noisy != labels).sum() == 200  # exactly 40%, and never to the true class
    assert set(np.unique(noisy)) == set(range(10))
    again = evidence.corrupt_labels(labels, 0.4, np.random.default_rng(0))
    np.testing.assert_array_equal(noisy, again)
