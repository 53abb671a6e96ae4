import os
import re

import cv2
import numpy as np
import pytest
from conftest import make_tree, write_image

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


def test_inspect_lists_what_was_left_out_and_warns(tmp_path, capsys):
    photos = tmp_path / "photos"
    make_tree(photos, {"nested": 3})
    write_image(photos / "direct.png", (1, 2, 3))
    (photos / "nested" / "notes.txt").write_text("x")
    write_image(photos / "nested" / ".hidden.png", (1, 2, 3))
    assert cli.main(["inspect", str(photos)]) == 0
    out = capsys.readouterr().out
    assert "3 images in 1 classes" in out
    assert "left out: 3\n" in out
    assert "  images directly under the directory, in no class folder: 1 (direct.png)\n" in out
    assert "  files with another extension: 1 (nested/notes.txt)\n" in out
    assert "  hidden files and folders (name starting with '.'): 1 (nested/.hidden.png)\n" in out
    assert "warning: 1 image directly in" in out and "warning: Only one class ('nested')" in out


def test_inspect_prints_names_that_are_not_utf8(tmp_path, capsys):
    root = os.fsencode(tmp_path / "data")
    png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes()  # (cv2.imwrite crashes on such names)
    for folder in (b"caf\xe9", b"plain"):
        try:
            os.makedirs(os.path.join(root, folder))
        except OSError:
            pytest.skip("this file system refuses names that are not valid UTF-8")
        for name in (b"a\xe9.png", b"b.png"):
            with open(os.path.join(root, folder, name), "wb") as f:
                f.write(png)
    bad = os.path.join(root, b"plain", b"bad\xff.png")
    with open(bad, "wb") as f:
        f.write(b"not an image")
    # capsys' stdout is strict UTF-8, like a UTF-8 terminal: a surrogate escape printed as is would raise.
    assert cli.main(["inspect", os.fsdecode(root), "--validation-split", "0.5"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"\n  caf\\xe9 +2  \(validation 1\)\n  plain +3  \(validation 2\)\n", out)
    assert "bad files: 1\n" in out and "bad\\xff.png: not a supported image" in out
