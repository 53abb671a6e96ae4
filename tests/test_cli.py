import cv2

from mixup_sequence import cli


def test_preview_writes_a_captioned_grid(tree, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code = cli.main(["preview", str(tree), "--out", str(out), "--image-size", "16", "20", "--batch-size", "6"])
    assert code == 0
    grid = cv2.imread(str(out))
    assert grid.shape[1] == 6 * 128  # six cells of 128 px
    assert "seed" in capsys.readouterr().out


def test_inspect_counts_and_split(tree, capsys):
    assert cli.main(["inspect", str(tree), "--validation-split", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "18 images in 3 classes" in out
    assert "  cat        7  (validation 1)\n" in out
    assert "formats: .png 18" in out


def test_errors_exit_2_with_the_message(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_bench_reports_three_modes(tree, capsys):
    args = ["bench", str(tree), "--image-size", "8", "8", "--batch-size", "4", "--batches", "3", "--workers", "2"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    for mode in ("serial", "threads", "processes"):
        assert f"{mode}:" in captured.out and "images/s" in captured.out
    assert "3/3 batches (100%" in captured.err
