"""Dirty folders: every odd-but-valid file decodes; every bad one gets the specified behaviour."""

import logging
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image

from mixup_sequence import ImageDecodeError, index_directory
from mixup_sequence import decode as decode_module
from mixup_sequence.decode import load_image
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.verify import check_files
from mixup_sequence.workers import ProcessPool


def _png_bomb(width, height):
    """A tiny PNG whose header declares width x height pixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _jpeg_bytes(array, quality=90):
    ok, buf = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


ODD_BUT_VALID = {}  # file name -> check of the decoded (8, 8) image
BAD = {}  # file name -> words expected in the reason


def _write_odd_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "one_pixel.png"), np.array([[[0, 0, 200]]], np.uint8))
    ODD_BUT_VALID["one_pixel.png"] = lambda im: (im == [200, 0, 0]).all()
    cv2.imwrite(str(folder / "deep16.png"), np.full((8, 8, 3), 257 * 60, np.uint16))
    ODD_BUT_VALID["deep16.png"] = lambda im: (im == 60).all()
    pal = Image.new("P", (8, 8))
    pal.putpalette([9, 99, 199] * 256)
    pal.save(folder / "palette.png")
    ODD_BUT_VALID["palette.png"] = lambda im: (im == [9, 99, 199]).all()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 180, 0  # fully transparent green
    cv2.imwrite(str(folder / "rgba.png"), rgba)
    ODD_BUT_VALID["rgba.png"] = lambda im: (im == [0, 180, 0]).all()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    ODD_BUT_VALID["cmyk.jpg"] = lambda im: (im[..., 0] > 240).all() and (im[..., 1:] < 20).all()
    Image.new("L", (8, 8), 77).save(folder / "gray.jpg")
    ODD_BUT_VALID["gray.jpg"] = lambda im: (np.abs(im.astype(int) - 77) <= 1).all()
    stored = np.zeros((8, 16, 3), np.uint8)
    stored[:, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(folder / "rotated.jpg", exif=exif, quality=100)
    ODD_BUT_VALID["rotated.jpg"] = lambda im: im[0, 4, 0] > 200 and im[7, 4, 0] < 60  # 16x8 -> 8x16 -> top red
    cv2.imencode(".png", np.full((8, 8, 3), 33, np.uint8))[1].tofile(str(folder / "name with spaces é 猫.png"))
    ODD_BUT_VALID["name with spaces é 猫.png"] = lambda im: (im == 33).all()


def _write_bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.jpg").write_bytes(b"")
    BAD["zero.jpg"] = "empty"
    good = _jpeg_bytes(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (folder / "truncated.jpg").write_bytes(good[:200])
    BAD["truncated.jpg"] = "corrupt"
    (folder / "random.png").write_bytes(np.random.default_rng(1).bytes(500))
    BAD["random.png"] = "corrupt"
    (folder / "text.jpeg").write_text("this is not a picture\n")
    BAD["text.jpeg"] = "corrupt"
    (folder / "bomb.png").write_bytes(_png_bomb(40_000, 40_000))
    BAD["bomb.png"] = "max_pixels"
    chunk_bomb = bytearray(_png_bomb(8, 8))
    chunk_bomb[33:37] = struct.pack(">I", 4_000_000_000)  # the IDAT chunk claims 4 GB
    (folder / "chunk_bomb.png").write_bytes(bytes(chunk_bomb))
    BAD["chunk_bomb.png"] = "declares 4000000000 bytes"
    cv2.imwrite(str(folder / "deleted.png"), np.zeros((8, 8, 3), np.uint8))
    BAD["deleted.png"] = "FileNotFoundError"
    cv2.imwrite(str(folder / "locked.png"), np.zeros((8, 8, 3), np.uint8))
    BAD["locked.png"] = "PermissionError"


@pytest.fixture
def dirty(tmp_path, monkeypatch):
    """Class "odd": valid but unusual files; classes "cat"/"dog": good images plus bad ones."""
    root = tmp_path / "dirty"
    _write_odd_files(root / "odd")
    for name, colour in (("cat", 40), ("dog", 220)):
        (root / name).mkdir(parents=True)
        for k in range(4):
            cv2.imwrite(str(root / name / f"good_{k}.png"), np.full((8, 8, 3), colour, np.uint8))
    _write_bad_files(root / "cat" / "bad")
    index = index_directory(root)  # indexed while every file exists
    (root / "cat" / "bad" / "deleted.png").unlink()
    locked = root / "cat" / "bad" / "locked.png"
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root reads anything: make the read fail as it would for a user

        def guarded_open(path, *args, **kwargs):
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return open(path, *args, **kwargs)

        monkeypatch.setattr(decode_module, "open", guarded_open, raising=False)
    return root, index


def test_odd_but_valid_files_decode(dirty):
    root, _ = dirty
    for name, check in ODD_BUT_VALID.items():
        image = load_image(str(root / "odd" / name), (8, 8), interpolation="nearest")
        assert image.shape == (8, 8, 3) and image.dtype == np.uint8, name
        assert check(image), name
        gray = load_image(str(root / "odd" / name), (8, 8), "grayscale")
        assert gray.shape == (8, 8, 1), name


def test_each_bad_file_raises_its_own_error(dirty):
    root, _ = dirty
    for name, words in BAD.items():
        path = str(root / "cat" / "bad" / name)
        with pytest.raises(ImageDecodeError) as info:
            load_image(path, (8, 8))
        assert info.value.filename == path and name in str(info.value)
        assert words in info.value.reason, (name, info.value.reason)


def _loader(index, on_error, batch_size=5):
    options = LoaderOptions(batch_size=batch_size, image_size=(8, 8), on_error=on_error)
    return BatchLoader(index, options, 3, mix=MixConfig(mixup_alpha=0.5))


def test_raise_policy_names_file_class_and_batch_in_every_mode(dirty):
    _, index = dirty
    loader = _loader(index, "raise", batch_size=index.samples)
    with pytest.raises(ImageDecodeError) as serial:
        loader.load_batch(0, 0)
    with ThreadPoolExecutor(2) as threads, pytest.raises(ImageDecodeError) as threaded:
        threads.submit(loader.load_batch, 0, 0).result()
    pool = ProcessPool(loader, 2, 2, "fork")
    try:
        with pytest.raises(ImageDecodeError) as processes:
            pool.get(0, 0)
    finally:
        pool.close()
    for info in (serial, threaded, processes):
        notes = "\n".join(info.value.__notes__)
        assert "class 'cat'" in notes and "batch 0 of epoch 0" in notes
        assert os.path.basename(info.value.filename) in BAD
    assert str(serial.value) == str(processes.value)


def test_skip_policy_replaces_within_the_class_deterministically(dirty, caplog):
    _, index = dirty
    loader = _loader(index, "skip")
    report = []
    serial = [loader.load_batch(e, i, report=report) for e in range(2) for i in range(len(loader))]
    pool = ProcessPool(loader, 2, 2, "fork")
    try:
        pooled = [pool.get(e, i) for e in range(2) for i in range(len(loader))]
    finally:
        pool.close()
    for (x, y), (px, py) in zip(serial, pooled):
        np.testing.assert_array_equal(x, px)
        np.testing.assert_array_equal(y, py)
    assert {os.path.basename(p) for p, _ in report} == set(BAD)
    assert {os.path.basename(p) for p, _ in pool.reports} == set(BAD)
    # A replaced sample keeps its class: with mixing off, labels are exactly the index's.
    plain = BatchLoader(index, LoaderOptions(batch_size=5, image_size=(8, 8), on_error="skip"), 3)
    for i in range(len(plain)):
        x, y = plain.load_batch(0, i)
        np.testing.assert_array_equal(y.argmax(axis=1), index.labels[plain.batch_samples(0, i)])
        cat_rows = index.labels[plain.batch_samples(0, i)] == index.class_indices["cat"]
        assert (x[cat_rows] == np.float32(40 / 255)).all()  # only good cat images stand in


def test_verify_lists_exactly_the_bad_files(dirty, capsys):
    _, index = dirty
    bad = check_files(index, progress=True)
    assert {os.path.basename(p): r for p, r in bad.items()}.keys() == BAD.keys()
    for path, reason in bad.items():
        assert BAD[os.path.basename(path)] in reason
    assert f"verify: {index.samples}/{index.samples} files (100%" in capsys.readouterr().err


def test_cli_verify_exit_code(dirty, capsys):
    from mixup_sequence import cli

    root, _ = dirty
    os.remove(root / "cat" / "bad" / "zero.jpg")
    assert cli.main(["verify", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    # Indexed now: the deleted and the removed file are gone; six bad ones remain.
    assert "truncated.jpg" in out and "bad files: 6" in out and "zero.jpg" not in out


def test_skip_logs_once_per_file(dirty, caplog):
    pytest.importorskip("keras")
    from mixup_sequence import MixupSequence

    root, _ = dirty
    seq = MixupSequence(root, batch_size=6, image_size=(8, 8), on_error="skip", seed=2)
    with caplog.at_level(logging.WARNING, logger="mixup_sequence"):
        for epoch in range(3):
            seq.set_epoch(epoch)
            for i in range(len(seq)):
                seq[i]
    # Indexed after "deleted.png" was removed, so it is not part of this sequence.
    assert {os.path.basename(p) for p in seq.bad_files} == set(BAD) - {"deleted.png"}
    logged = [r.getMessage() for r in caplog.records if "Skipping unreadable image" in r.getMessage()]
    assert len(logged) == len(seq.bad_files)
