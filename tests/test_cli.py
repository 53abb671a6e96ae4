import argparse
import io
import json
import os
import re
import subprocess
import sys

import albumentations as A
import cv2
import numpy as np
import pytest
from conftest import COLOURS, make_tree, write_image

from mixup_sequence import cli
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions


def test_the_command_line_starts_without_keras_or_albumentations():
    code = "import sys, mixup_sequence.cli; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'mixup_sequence'" in loaded
    assert "keras" not in loaded and "albumentations" not in loaded and "tensorflow" not in loaded


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _tiles_and_text(path):
    """Reads a preview PNG: bounding boxes (x, y, w, h) of its coloured tiles, and a mask of its caption pixels.

    The test images are saturated solid colours (and their mixes); captions are black on white.
    """
    rgb = cv2.imread(str(path))[:, :, ::-1].astype(int)
    colour = rgb.max(-1) - rgb.min(-1) > 40
    count, _, stats, _ = cv2.connectedComponentsWithStats(colour.astype(np.uint8), connectivity=4)
    tiles = sorted((tuple(s[:4]) for s in stats[1:]), key=lambda t: (t[1], t[0]))
    text = ~colour & (rgb.min(-1) < 250)
    return tiles, text


def _preview(tree, out, *extra):
    args = ["preview", str(tree), "--out", str(out), "--image-size", "20", "24", "--batch-size", "6"]
    return cli.main([*args, "--columns", "4", "--seed", "5", *extra])


@pytest.mark.parametrize("long_names", [False, True])
def test_preview_tiles_have_the_requested_size_and_captions_stay_in_their_band(tmp_path, capsys, long_names):
    names = ["cat", "dog", "fox"]
    if long_names:  # long names get numbers in the captions and a legend under the grid
        names = [n + "_with_a_class_name_far_longer_than_any_tile_is_wide" for n in names]
    tree = tmp_path / "data"
    for name, colour in zip(names, COLOURS.values()):
        for k in range(4):
            write_image(tree / name / f"{k}.png", colour)
    out = tmp_path / "grid.png"
    assert _preview(tree, out, "--cutmix-alpha", "1.0") == 0
    assert "6 images" in capsys.readouterr().out
    tiles, text = _tiles_and_text(out)
    assert [t[2:] for t in tiles] == [(24, 20)] * 6  # (width, height) as asked, each one whole
    assert all(cv2.imread(str(out))[y : y + h, x : x + w].min(-1).max() < 255 for x, y, w, h in tiles)
    lefts, tops = sorted({t[0] for t in tiles}), sorted({t[1] for t in tiles})
    assert len(lefts) == 4 and len(tops) == 2
    pitch_x, pitch_y = lefts[1] - lefts[0], tops[1] - tops[0]
    assert pitch_x <= 110  # a cell does not grow with the class names
    in_band = np.zeros_like(text)
    for x, y, _, h in tiles:  # a caption lies under its tile, short of the next cell in both directions
        band = (slice(y + h, y + pitch_y - 1), slice(x, x + pitch_x - 1))
        assert text[band].any()
        in_band[band] = True
    below = tops[-1] + pitch_y
    assert not (text & ~in_band)[:below].any()
    assert text[below:].any() == long_names  # the legend


def test_preview_and_bench_defaults_are_the_librarys(tree):
    for command in ("preview", "bench"):
        args = cli.build_parser().parse_args([command, str(tree)])
        assert cli._mix_config(args) == MixConfig()
        assert cli._loader_options(args) == LoaderOptions()
    assert MixConfig().mixup_alpha > 0 and MixConfig().cutmix_alpha == 0  # mixup, no CutMix


@pytest.mark.parametrize("command", ["preview", "bench"])
def test_help_lists_every_default(command):
    parser = _subparser(command)
    assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.dest  # the formatter adds "(default: ...)" to each help
            assert f"(default: {action.default})" in text, action.dest
    assert f"(default: {MixConfig.mixup_alpha})" in text


def _tile_pixels(path):
    grid = cv2.imread(str(path))
    return [grid[y : y + h, x : x + w] for x, y, w, h in _tiles_and_text(path)[0]]


def test_preview_with_a_pipeline_that_owns_the_resize(tree, tmp_path, capsys):
    spec = str(tmp_path / "crop.yaml")
    A.save(A.Compose([A.RandomResizedCrop(size=(20, 24), p=1.0)]), spec, data_format="yaml")
    out = tmp_path / "crop.png"
    # Without --augment-input decoded the crop's output (from the resized image) is refused, naming the mode.
    assert _preview(tree, out, "--augment", spec, "--image-size", "40", "48") == 2
    assert "augment_input" in capsys.readouterr().err
    assert _preview(tree, out, "--augment", spec, "--augment-input", "decoded") == 0
    tiles = _tiles_and_text(out)[0]
    assert len(tiles) == 6 and all((w, h) == (24, 20) for _, _, w, h in tiles)


@pytest.mark.parametrize("kind", ["yaml", "json", "module"])
def test_preview_runs_the_augmentation_chain(tree, tmp_path, monkeypatch, kind):
    chain = A.Compose([A.InvertImg(p=1.0)])
    if kind == "module":
        module = "import albumentations as A\nchain = A.Compose([A.InvertImg(p=1.0)])\n"
        (tmp_path / "cli_test_chain.py").write_text(module)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", list(sys.path))
        monkeypatch.setitem(sys.modules, "cli_test_chain", None)  # so that the import is undone afterwards
        monkeypatch.delitem(sys.modules, "cli_test_chain")
        spec = "cli_test_chain:chain"
    else:
        spec = str(tmp_path / f"chain.{kind}")
        A.save(chain, spec, data_format=kind)
    plain, augmented = tmp_path / "plain.png", tmp_path / "augmented.png"
    assert _preview(tree, plain, "--mixup-alpha", "0") == 0
    assert _preview(tree, augmented, "--mixup-alpha", "0", "--augment", spec) == 0
    pairs = list(zip(_tile_pixels(plain), _tile_pixels(augmented)))
    assert len(pairs) == 6 and all(np.array_equal(255 - p, a) for p, a in pairs)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("missing.yaml", "file not found"),
        ("no_colon_here", "module:attribute"),
        ("no_such_module_xyz:chain", "No module named"),
        ("json:no_such_attribute", "has no attribute"),
    ],
)
def test_a_bad_augment_is_a_clear_error(tree, tmp_path, capsys, spec, expected):
    assert _preview(tree, tmp_path / "p.png", "--augment", spec) == 2
    err = capsys.readouterr().err
    assert expected in err and f"--augment={spec}" in err


def test_preview_draws_uint8_and_minus_one_to_one_batches_as_the_float_one(textured_tree, tmp_path):
    pictures = []
    for k, options in enumerate([[], ["--dtype", "uint8"], ["--value-range", "-1", "1"]]):
        out = tmp_path / f"{k}.png"
        assert _preview(textured_tree, out, "--mixup-alpha", "0", "--cutmix-alpha", "1", *options) == 0
        pictures.append(cv2.imread(str(out)))
    assert all(np.array_equal(p, pictures[0]) for p in pictures[1:])


def test_preview_of_a_batch_past_the_epoch_is_a_clear_error(tree, tmp_path, capsys):
    assert _preview(tree, tmp_path / "p.png", "--batch", "3") == 2  # 18 images make 3 batches of 6
    assert "expected 0 <= index < 3. Received: 3" in capsys.readouterr().err


def test_an_augment_file_that_is_not_a_pipeline_is_refused(tree, tmp_path, capsys):
    bad = tmp_path / "chain.json"
    bad.write_text(json.dumps({"not": "a pipeline"}))
    assert _preview(tree, tmp_path / "p.png", "--augment", str(bad)) == 2
    assert "A.save" in capsys.readouterr().err


def test_inspect_counts_and_split(tree, capsys):
    assert cli.main(["inspect", str(tree), "--validation-split", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "18 images in 3 classes" in out
    assert "  cat        7  (validation 1)\n" in out
    assert "formats: .png 18" in out


def test_errors_exit_2_with_the_message(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def _bench_table(out):
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.split()[:1] == ["mode"])
    header = lines[start].split()
    return [dict(zip(header, line.split())) for line in lines[start + 1 :]]


def test_bench_reports_parseable_rates_per_mode(tree, capsys):
    args = ["bench", str(tree), "--image-size", "8", "8", "--batch-size", "4", "--workers", "2"]
    assert cli.main([*args, "--min-epochs", "2", "--min-seconds", "0"]) == 0
    captured = capsys.readouterr()
    assert f"{tree}: 18 images in 3 classes" in captured.out
    rows = _bench_table(captured.out)
    assert [r["mode"] for r in rows] == ["serial", "threads", "processes"]
    for row in rows:
        assert int(row["workers"]) == (0 if row["mode"] == "serial" else 2)
        assert int(row["epochs"]) == 2
        assert float(row["first_batch_s"]) > 0
        assert 0 < float(row["min"]) <= float(row["images_per_s"]) <= float(row["max"])
    assert rows[0]["vs_serial"] == "1.00"
    # Not a terminal: plain progress lines on stderr, none rewritten in place.
    assert "\r" not in captured.err
    assert "processes: timed 2 epochs in" in captured.err.splitlines()[-1]


def test_bench_spreads_max_images_over_the_classes(tree, capsys):
    args = ["bench", str(tree), "--image-size", "8", "8", "--batch-size", "4", "--modes", "serial"]
    assert cli.main([*args, "--max-images", "9", "--min-epochs", "1", "--min-seconds", "0", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "9 of 18 images (spread evenly; --max-images) in 3 classes" in captured.out
    assert "batches: 3 of 4" in captured.out
    assert _bench_table(captured.out)[0]["vs_serial"] == "1.00"
    assert captured.err == ""


def test_bench_refuses_bad_counts(tree, capsys):
    assert cli.main(["bench", str(tree), "--min-epochs", "0"]) == 2
    assert "Received: --min-epochs=0" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_status_line_rewrites_one_line_on_a_terminal():
    terminal = _Terminal()
    status = cli._StatusLine(terminal)
    status.update("serial: warm-up, batch 1/9")
    status.line("serial: timed 3 epochs")  # a terminal keeps only the updating line
    status.clear()
    assert terminal.getvalue() == "\rserial: warm-up, batch 1/9" + "\r" + " " * 26 + "\r"
    piped = io.StringIO()
    status = cli._StatusLine(piped)
    status.update("serial: warm-up, batch 1/9")
    status.line("serial: timed 3 epochs")
    status.clear()
    assert piped.getvalue() == "serial: timed 3 epochs\n"
    quiet = _Terminal()
    status = cli._StatusLine(quiet, enabled=False)
    status.update("x")
    status.line("y")
    assert quiet.getvalue() == ""


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


def test_preview_takes_its_samples_from_a_csv(tree, tmp_path, capsys):
    rows = ["filename,class,warm,cold", "cat/img_000.png,cat,1,0", "dog/img_001.png,dog,0,1", "fox/img_002.png,fox,0,1"]
    rows += ["cat/img_001.png,cat,1,1"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "p.png"
    common = ["--labels", str(tmp_path / "labels.csv"), "--batch-size", "4", "--mixup-alpha", "0"]
    assert _preview(tree, out, *common) == 0
    tiles = _tiles_and_text(out)[0]
    assert len(tiles) == 4 and all((w, h) == (24, 20) for _, _, w, h in tiles)
    assert _preview(tree, out, *common, "--y-col", "warm", "cold") == 0  # multi-hot columns
    assert "4 images" in capsys.readouterr().out
    # A missing column and a missing file are errors that name them.
    assert _preview(tree, out, *common, "--y-col", "hot") == 2
    assert "missing ['hot']" in capsys.readouterr().err
    (tmp_path / "labels.csv").write_text("filename,class\ncat/nope.png,cat\n")
    assert _preview(tree, out, *common) == 2
    assert "cat/nope.png" in capsys.readouterr().err
