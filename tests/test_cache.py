"""The image cache: bit-identical batches, never stale, safe under kills and concurrency, honest about space."""

import errno
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

import albumentations as A
import cv2
import numpy as np
import pytest

from mixup_sequence import ImageDecodeError, cli, index_directory
from mixup_sequence import cache as cache_module
from mixup_sequence.cache import (
    FORMAT_VERSION,
    HEADER_BYTES,
    CacheError,
    CacheSpaceError,
    ImageCache,
    fill_cache,
    open_cache,
    record_bytes,
)
from mixup_sequence.decode import load_image
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool, ThreadPool

HERE = os.path.dirname(__file__)


def make_loader(root, cache_dir=None, seed=11, **options):
    opts = LoaderOptions(**{"batch_size": 4, "image_size": (8, 8), **options})
    index = index_directory(root)
    cache = None if cache_dir is None else open_cache(cache_dir, opts, index)
    augment = A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-20, 20), p=0.7)])
    return BatchLoader(index, opts, seed, augment=augment, mix=MixConfig(0.4, 1.0), cache=cache)


def assert_batches_equal(got, expected):
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def records(cache):
    """Paths of the records at their final names."""
    found = []
    for folder, _, files in os.walk(os.path.join(cache.path, "records")):
        found += [os.path.join(folder, f) for f in files]
    return found


@pytest.fixture
def decodes(monkeypatch):
    """Counts the files the cache decodes (in this process), by path."""
    seen = []
    original = cache_module.load_image

    def counting(path, *args, **kwargs):
        seen.append(os.path.basename(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(cache_module, "load_image", counting)
    return seen


def _read_only(monkeypatch, path):
    """Makes `path` read-only: chmod for a user; root writes anyway, so its creations fail as they would."""
    for folder, _, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    if os.geteuid() != 0:
        return
    prefix = os.fspath(path)
    real_open, real_mkdir = os.open, os.mkdir

    def guarded_open(file, flags, *args, **kwargs):
        if os.fspath(file).startswith(prefix) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    def guarded_mkdir(file, *args, **kwargs):
        if os.fspath(file).startswith(prefix) and not os.path.isdir(file):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_mkdir(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


# --- records -------------------------------------------------------------------------------------
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
@pytest.mark.parametrize("interpolation", ["area", "bilinear", "lanczos4"])
def test_a_record_is_the_decoded_image_bit_for_bit(textured_tree, tmp_path, color_mode, interpolation):
    cache = ImageCache(tmp_path / "c", (7, 5), color_mode, interpolation).open()
    path = str(textured_tree / "a" / "3.png")
    expected = load_image(path, (7, 5), color_mode, interpolation)
    first, written = cache.fetch("a/3.png", path)
    again, written_again = cache.fetch("a/3.png", path)
    assert written and not written_again
    for image in (first, again, cache.read("a/3.png", path)):
        assert image.dtype == np.uint8 and image.shape == expected.shape
        np.testing.assert_array_equal(image, expected)
    (record,) = records(cache)
    assert os.path.getsize(record) == HEADER_BYTES + expected.size == record_bytes((7, 5), color_mode)


def test_filled_as_a_side_effect_then_read_instead_of_decoding(textured_tree, tmp_path, decodes):
    loader = make_loader(textured_tree, tmp_path / "c", shuffle=False)
    reference = make_loader(textured_tree, shuffle=False)
    for i in range(len(loader)):
        assert_batches_equal(loader.load_batch(0, i), reference.load_batch(0, i))
    assert sorted(decodes) == sorted(p.name for p in textured_tree.rglob("*.png"))  # each file once
    assert len(records(loader.cache)) == loader.index.samples
    decodes.clear()
    for epoch in (1, 2):
        for i in range(len(loader)):
            assert_batches_equal(loader.load_batch(epoch, i), reference.load_batch(epoch, i))
    assert decodes == []


def _drop_half(cache):
    for record in records(cache)[::2]:
        os.unlink(record)


@pytest.mark.parametrize("mode", ["serial", "threads", "fork", "forkserver", "spawn"])
def test_batches_equal_uncached_on_a_cold_partly_filled_and_full_cache(textured_tree, tmp_path, mode):
    reference = make_loader(textured_tree)
    loader = make_loader(textured_tree, tmp_path / "c")
    if mode == "serial":
        pool = None
    elif mode == "threads":
        pool = ThreadPool(loader, 2, 3)
    else:
        pool = ProcessPool(loader, 2, 3, mode)
    try:
        # Cold (epoch 0 fills it), partly filled (half the records removed), full; epochs apart,
        # so that prefetched batches of the next epoch are dropped in between.
        for state, epoch in (("cold", 0), ("partial", 5), ("full", 9)):
            if state == "partial":
                if pool is not None:
                    pool.wait_idle()
                _drop_half(loader.cache)
                assert 0 < len(records(loader.cache)) < loader.index.samples
            for i in [*range(len(loader)), 2, 0]:  # in order, then out of order
                got = loader.load_batch(epoch, i) if pool is None else pool.get(epoch, i)
                assert_batches_equal(got, reference.load_batch(epoch, i))
            if pool is not None:
                pool.wait_idle()
            assert len(records(loader.cache)) == loader.index.samples, state
    finally:
        if pool is not None:
            pool.close()


def test_uint8_grayscale_and_dataset_pairing_equal_uncached(textured_tree, tmp_path):
    options = dict(color_mode="grayscale", dtype="uint8", pairing="dataset", image_size=(6, 9))
    reference = make_loader(textured_tree, **options)
    loader = make_loader(textured_tree, tmp_path / "c", **options)
    for epoch in (0, 1):
        for i in range(len(loader)):
            assert_batches_equal(loader.load_batch(epoch, i), reference.load_batch(epoch, i))


def test_loader_refuses_a_cache_for_other_pixels(textured_tree, tmp_path):
    index = index_directory(textured_tree)
    cache = ImageCache(tmp_path / "c", (8, 8), interpolation="bilinear")
    with pytest.raises(ValueError, match="Received: cache=ImageCache"):
        BatchLoader(index, LoaderOptions(image_size=(8, 8)), 1, cache=cache)


@pytest.mark.parametrize("inside, refused", [(".", True), ("cache", True), (".cache", False), ("a/cache", False)])
def test_a_cache_that_would_become_a_class_folder_is_refused(textured_tree, inside, refused):
    index = index_directory(textured_tree)
    where = os.path.normpath(textured_tree / inside)
    if refused:
        with pytest.raises(ValueError, match="would be indexed as classes.*hidden folder"):
            open_cache(where, LoaderOptions(image_size=(8, 8)), index)
        assert index_directory(textured_tree).class_names == index.class_names
    else:
        cache = open_cache(where, LoaderOptions(image_size=(8, 8)), index)
        fill_cache(cache, index, progress=False)
        assert index_directory(textured_tree).relative_paths() == index.relative_paths()


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"directory": 3}, TypeError, "cache=3"),
        ({"directory": ""}, TypeError, "cache=''"),
        ({"image_size": (0, 4)}, ValueError, "image_size=(0, 4)"),
        ({"color_mode": "cmyk"}, ValueError, "color_mode='cmyk'"),
        ({"interpolation": "fancy"}, ValueError, "interpolation='fancy'"),
    ],
)
def test_bad_arguments_fail_before_touching_the_disk(tmp_path, kwargs, error, received):
    arguments = {"directory": tmp_path / "never", "image_size": (4, 4), **kwargs}
    with pytest.raises(error, match="Received: " + received.replace("(", r"\(").replace(")", r"\)")):
        ImageCache(**arguments)
    assert not (tmp_path / "never").exists()


# --- never stale ----------------------------------------------------------------------------------
def test_a_changed_file_is_decoded_again(textured_tree, tmp_path, decodes):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    index = index_directory(textured_tree)
    fill_cache(cache, index, progress=False)
    target = textured_tree / "a" / "4.png"
    rel = "a/4.png"
    decodes.clear()

    st = os.stat(target)  # the same bytes, a new mtime: decoded again
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    np.testing.assert_array_equal(cache.load(rel, str(target)), load_image(str(target), (8, 8)))
    assert decodes == ["4.png"]

    # New pixels, the old mtime and size put back: a size-and-mtime key cannot see this, so the
    # test keeps the size different (as real edits do) and checks that the new pixels come back.
    new = np.full((16, 16, 3), 77, np.uint8)
    cv2.imwrite(str(target), new)
    assert os.path.getsize(target) != st.st_size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    image = cache.load(rel, str(target))
    np.testing.assert_array_equal(image, load_image(str(target), (8, 8)))
    assert (image == 77).all()
    assert decodes == ["4.png", "4.png"]
    fill_cache(cache, index, progress=False)
    assert decodes == ["4.png", "4.png"]  # the others were never decoded again


@pytest.mark.parametrize(
    "change",
    [
        {"image_size": (8, 9)},
        {"color_mode": "grayscale"},
        {"interpolation": "bicubic"},
        {"opencv": "0.0.1"},
        {"format": FORMAT_VERSION + 1},
    ],
)
def test_a_cache_for_other_settings_is_never_read(textured_tree, tmp_path, decodes, monkeypatch, change):
    index = index_directory(textured_tree)
    first = ImageCache(tmp_path / "c", (8, 8)).open()
    fill_cache(first, index, progress=False)
    decodes.clear()
    pixels = {k: v for k, v in change.items() if k in ("image_size", "color_mode", "interpolation")}
    if "opencv" in change:
        monkeypatch.setattr(cache_module.cv2, "__version__", change["opencv"])
    if "format" in change:
        monkeypatch.setattr(cache_module, "FORMAT_VERSION", change["format"])
    other = ImageCache(tmp_path / "c", **{"image_size": (8, 8), **pixels}).open()
    assert other.path != first.path
    summary = fill_cache(other, index, progress=False)
    assert summary.written == index.samples and len(decodes) == index.samples
    assert sorted(os.listdir(tmp_path / "c")) == sorted([os.path.basename(first.path), os.path.basename(other.path)])


def test_meta_json_names_the_settings_and_a_mismatch_is_refused(tmp_path):
    cache = ImageCache(tmp_path / "c", (8, 8), "grayscale", "nearest").open()
    meta = os.path.join(cache.path, "meta.json")
    with open(meta) as f:
        text = f.read()
    for word in ('"grayscale"', '"nearest"', cv2.__version__, '"format": 1'):
        assert word in text
    with open(meta, "w") as f:
        f.write('{"image_size": [9, 9]}')
    with pytest.raises(CacheError, match="other settings"):
        cache.open()


def test_a_record_for_another_file_or_shape_or_a_torn_one_is_decoded_again(textured_tree, tmp_path, decodes):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    a, b = str(textured_tree / "a" / "0.png"), str(textured_tree / "a" / "1.png")
    cache.load("a/0.png", a)
    cache.load("a/1.png", b)
    rec_a, rec_b = cache.record_path("a/0.png"), cache.record_path("a/1.png")
    decodes.clear()
    shutil.copyfile(rec_b, rec_a)  # another file's record under this name
    np.testing.assert_array_equal(cache.load("a/0.png", a), load_image(a, (8, 8)))
    with open(rec_a, "r+b") as f:  # torn: header and half the pixels
        f.truncate(HEADER_BYTES + 10)
    np.testing.assert_array_equal(cache.load("a/0.png", a), load_image(a, (8, 8)))
    with open(rec_a, "r+b") as f:  # garbage header
        f.write(b"\0" * 8)
    np.testing.assert_array_equal(cache.load("a/0.png", a), load_image(a, (8, 8)))
    other_shape = ImageCache(tmp_path / "c", (4, 16)).open()  # same bytes a record, other shape
    other_shape.load("a/0.png", a)
    shutil.copyfile(other_shape.record_path("a/0.png"), rec_a)
    np.testing.assert_array_equal(cache.load("a/0.png", a), load_image(a, (8, 8)))
    assert decodes == ["0.png"] * 5  # 4 repairs, 1 for the other shape


def test_adding_files_decodes_only_the_new_ones(textured_tree, tmp_path, decodes):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    before = index_directory(textured_tree)
    fill_cache(cache, before, progress=False)
    decodes.clear()
    for name in ("-new.png", "zz.png"):  # "-" sorts first: every position in the index moves
        cv2.imwrite(str(textured_tree / "a" / name), np.full((16, 16, 3), 9, np.uint8))
    after = index_directory(textured_tree)
    assert after.relative_path(0) == "a/-new.png" != before.relative_path(0)
    summary = fill_cache(cache, after, progress=False)
    assert sorted(decodes) == ["-new.png", "zz.png"]
    assert (summary.written, summary.present, summary.records) == (2, before.samples, before.samples + 2)
    reference = make_loader(textured_tree)
    loader = BatchLoader(after, reference.options, 11, augment=reference.augmenter, mix=reference.mix, cache=cache)
    for i in range(len(loader)):
        assert_batches_equal(loader.load_batch(3, i), reference.load_batch(3, i))


# --- bad files -----------------------------------------------------------------------------------
def test_bad_files_follow_on_error_and_are_never_cached(textured_tree, tmp_path):
    bad = textured_tree / "b" / "5.png"
    bad.write_bytes(b"not an image")
    strict, strict_cached = make_loader(textured_tree), make_loader(textured_tree, tmp_path / "c")
    errors = []
    for loader in (strict, strict_cached):
        with pytest.raises(ImageDecodeError) as info:
            for i in range(len(loader)):
                loader.load_batch(0, i)
        errors.append((str(info.value), info.value.__notes__))
    assert errors[0] == errors[1]
    assert not os.path.exists(strict_cached.cache.record_path("b/5.png"))

    skip = make_loader(textured_tree, on_error="skip")
    skip_cached = make_loader(textured_tree, tmp_path / "c", on_error="skip")
    for epoch in (0, 1):  # cold, then full
        for i in range(len(skip)):
            reports = [], []
            assert_batches_equal(
                skip_cached.load_batch(epoch, i, report=reports[1]), skip.load_batch(epoch, i, report=reports[0])
            )
            assert reports[0] == reports[1]
    assert not os.path.exists(skip_cached.cache.record_path("b/5.png"))
    assert len(records(skip_cached.cache)) == skip.index.samples - 1


def test_missing_or_unreadable_file_raises_as_uncached(textured_tree, tmp_path, monkeypatch):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    path = textured_tree / "a" / "2.png"
    cache.load("a/2.png", str(path))  # cached while readable
    real_open = os.open

    def refuse(file, flags, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr("mixup_sequence.decode.open", lambda *a, **k: refuse(str(a[0]), os.O_RDONLY), raising=False)
    with pytest.raises(ImageDecodeError, match="PermissionError"):
        cache.load("a/2.png", str(path))
    monkeypatch.undo()
    path.unlink()
    with pytest.raises(ImageDecodeError, match="FileNotFoundError") as info:
        cache.load("a/2.png", str(path))
    with pytest.raises(ImageDecodeError) as uncached:
        load_image(str(path), (8, 8))
    assert str(info.value) == str(uncached.value)


def test_a_record_made_under_a_looser_max_pixels_is_not_trusted(textured_tree, tmp_path, decodes):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    path = str(textured_tree / "a" / "1.png")  # 16 x 16 = 256 pixels
    cache.load("a/1.png", path, max_pixels=None)
    decodes.clear()
    with pytest.raises(ImageDecodeError, match="over the limit max_pixels=255") as info:
        cache.load("a/1.png", path, max_pixels=255)
    with pytest.raises(ImageDecodeError) as uncached:
        load_image(path, (8, 8), max_pixels=255)
    assert str(info.value) == str(uncached.value)
    cache.load("a/1.png", path, max_pixels=256)  # accepted: rewritten under the tighter limit
    cache.load("a/1.png", path, max_pixels=300)  # looser than the record's: read
    cache.load("a/1.png", path, max_pixels=None)
    assert decodes == ["1.png", "1.png"]


# --- crashes and concurrency --------------------------------------------------------------------
def _noise_tree(root, classes=2, per_class=24, size=(96, 128)):
    rng = np.random.default_rng(3)
    for c in range(classes):
        for k in range(per_class):
            path = root / f"c{c}" / f"{k:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root


def test_a_run_killed_mid_fill_leaves_a_cache_the_next_run_completes(tmp_path):
    sys.path.insert(0, HERE)
    try:
        import cache_child
    finally:
        sys.path.remove(HERE)
    data = _noise_tree(tmp_path / "data")
    cache_dir = tmp_path / "c"
    child = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "cache_child.py"), str(data), str(cache_dir)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers die with it, mid-write or not
    )
    try:
        for _ in range(2):
            assert child.stdout.readline().strip() != "", "the child ended before filling the cache"
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    index = index_directory(data)
    opts = cache_child.OPTIONS
    cache = ImageCache(cache_dir, opts.image_size).open()
    present = [k for k in range(index.samples) if os.path.exists(cache.record_path(index.relative_path(k)))]
    assert 0 < len(present) < index.samples
    for k in present:  # every record at its final name is whole and right
        image = cache.read(index.relative_path(k), index.path(k))
        np.testing.assert_array_equal(image, load_image(index.path(k), opts.image_size))
    # A temporary as a killed writer leaves it: half a record, never at a record's name.
    with open(os.path.join(cache.path, "tmp", "99999-1-dead"), "wb") as f:
        f.write(b"MXSQ" + b"\0" * 100)

    reference = BatchLoader(index, opts, cache_child.SEED, mix=cache_child.MIX)
    loader = BatchLoader(index, opts, cache_child.SEED, mix=cache_child.MIX, cache=open_cache(cache_dir, opts, index))
    for i in range(len(loader)):
        assert_batches_equal(loader.load_batch(0, i), reference.load_batch(0, i))
    assert len(records(cache)) == index.samples


def test_stale_temporaries_are_removed_on_open_young_ones_kept(tmp_path):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    old, young = (os.path.join(cache.path, "tmp", name) for name in ("1-1-old", "2-2-young"))
    for name in (old, young):
        with open(name, "wb") as f:
            f.write(b"partial")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    cache.open()
    assert not os.path.exists(old) and os.path.exists(young)


def _fill_concurrently(args):
    root, cache_dir, seed, barrier = args
    loader = make_loader(root, cache_dir, seed=seed, image_size=(24, 20))
    reference = make_loader(root, seed=seed, image_size=(24, 20))
    barrier.wait()
    equal = True
    for epoch in (0, 1):
        for i in range(len(loader)):
            got, expected = loader.load_batch(epoch, i), reference.load_batch(epoch, i)
            equal &= bool(np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]))
    return equal


def test_two_processes_filling_one_cache_at_once_both_get_correct_batches(tmp_path):
    data = _noise_tree(tmp_path / "data", per_class=30, size=(60, 80))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(3)
    with ctx.Pool(3) as pool:  # two seeds: the two runs decode the files in different orders
        results = pool.map(_fill_concurrently, [(data, tmp_path / "c", seed, barrier) for seed in (1, 2, 2)])
    assert results == [True, True, True]
    cache = ImageCache(tmp_path / "c", (24, 20))
    index = index_directory(data)
    assert len(records(cache)) == index.samples
    for k in range(index.samples):
        np.testing.assert_array_equal(
            cache.read(index.relative_path(k), index.path(k)), load_image(index.path(k), (24, 20))
        )


def test_fill_on_threads_while_a_loader_fills_the_same_cache(textured_tree, tmp_path):
    loader = make_loader(textured_tree, tmp_path / "c")
    reference = make_loader(textured_tree)
    pool = ThreadPool(loader, 2, 3)
    try:
        pool.get(0, 0)
        summary = fill_cache(loader.cache, loader.index, workers=3, progress=False)
        for i in range(len(loader)):
            assert_batches_equal(pool.get(0, i), reference.load_batch(0, i))
    finally:
        pool.close()
    assert summary.written + summary.present == loader.index.samples and summary.bad == {}


# --- space, read-only, vanished ---------------------------------------------------------------------
def _fake_statvfs(monkeypatch, free_blocks, inodes=10**6, block=4096):
    real = os.statvfs

    def statvfs(path):
        s = real(path)
        return os.statvfs_result(
            (s.f_bsize, block, s.f_blocks, free_blocks, free_blocks, inodes, inodes, inodes, s.f_flag, s.f_namemax)
        )

    monkeypatch.setattr(os, "statvfs", statvfs)


def test_a_disk_too_small_for_the_missing_records_is_refused_up_front(textured_tree, tmp_path, monkeypatch):
    index = index_directory(textured_tree)  # 18 files
    opts = LoaderOptions(image_size=(40, 40))  # 4,864-byte records: 2 blocks each, 8,256 bytes with its entry
    per_record = 2 * 4096 + 64
    cache = open_cache(tmp_path / "c", opts, index)
    for k in range(10):
        cache.load(index.relative_path(k), index.path(k))
    _fake_statvfs(monkeypatch, free_blocks=10)  # 40,960 bytes: 4 records fit, 8 are missing
    with pytest.raises(CacheSpaceError) as info:
        open_cache(tmp_path / "c", opts, index)
    message = str(info.value)
    assert cache.path in message and f"{8 * per_record:,} bytes" in message and "40,960 bytes free" in message
    assert (info.value.needed, info.value.free) == (8 * per_record, 40_960)
    _fake_statvfs(monkeypatch, free_blocks=17)  # 8 missing records fit, the full 18 would not
    open_cache(tmp_path / "c", opts, index)
    _fake_statvfs(monkeypatch, free_blocks=10**6, inodes=3)
    with pytest.raises(CacheSpaceError, match="8 more files.*3 free inodes"):
        open_cache(tmp_path / "c", opts, index)


def test_a_full_disk_while_writing_is_a_clear_error(textured_tree, tmp_path, monkeypatch):
    cache = ImageCache(tmp_path / "c", (8, 8)).open()
    real_open = os.open

    def full(file, flags, *args, **kwargs):
        if os.fspath(file).startswith(os.path.join(cache.path, "tmp")):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    with pytest.raises(CacheSpaceError, match="is full.*bytes are free") as info:
        cache.load("a/0.png", str(textured_tree / "a" / "0.png"))
    assert cache.path in str(info.value)


@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_cache_directory_is_a_clear_error(textured_tree, tmp_path, monkeypatch, existing):
    root = tmp_path / "c"
    index = index_directory(textured_tree)
    if existing:
        fill_cache(ImageCache(root, (8, 8)).open(), index, progress=False)
    else:
        root.mkdir()
    _read_only(monkeypatch, root)
    with pytest.raises(CacheError, match="not writable.*Make it writable.*cache=None") as info:
        open_cache(root, LoaderOptions(image_size=(8, 8)), index)
    assert str(root) in str(info.value)


@pytest.mark.parametrize("mode", ["serial", "fork"])
def test_a_vanished_cache_directory_is_a_clear_error(textured_tree, tmp_path, mode):
    loader = make_loader(textured_tree, tmp_path / "c")
    pool = ProcessPool(loader, 1, 1, "fork") if mode == "fork" else None
    try:
        loader.load_batch(0, 0)  # some records written
        shutil.rmtree(tmp_path / "c")
        with pytest.raises(CacheError, match="vanished.*Create the sequence again") as info:
            for i in range(len(loader)):
                loader.load_batch(1, i) if pool is None else pool.get(1, i)
        assert loader.cache.path in str(info.value)
        assert not os.path.exists(tmp_path / "c")  # never silently made again
    finally:
        if pool is not None:
            pool.close()


# --- command line -------------------------------------------------------------------------------
def test_cache_command_fills_once_and_lists_bad_files(textured_tree, tmp_path, capsys):
    args = ["cache", str(textured_tree), "--cache", str(tmp_path / "c"), "--image-size", "8", "6", "--quiet"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "18 images, 18 decoded now, 0 already cached" in out and "8x6-rgb-area-" in out
    (textured_tree / "b" / "0.png").write_bytes(b"")
    assert cli.main(args + ["--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert "17 already cached" in out and "bad files: 1" in out and "0.png: the file is empty" in out


def test_cache_command_shows_progress_and_errors(textured_tree, tmp_path, capsys):
    assert cli.main(["cache", str(textured_tree), "--cache", str(tmp_path / "c"), "--image-size", "8", "8"]) == 0
    assert "cache: 18/18 files (100%" in capsys.readouterr().err
    inside = str(textured_tree / "cache")
    assert cli.main(["cache", str(textured_tree), "--cache", inside, "--image-size", "8", "8"]) == 2
    assert f"error: `cache` must not be {str(textured_tree)!r}" in capsys.readouterr().err


def test_inspect_prints_what_a_cache_would_take(textured_tree, capsys):
    assert cli.main(["inspect", str(textured_tree), "--no-verify", "--image-size", "224", "224"]) == 0
    out = capsys.readouterr().out
    each = 64 + 224 * 224 * 3
    assert f"cache at 224x224 rgb: 18 records of {each:,} bytes = {18 * each / 1e6:.1f} MB" in out
    assert f"({18 * (37 * 4096 + 64) / 1e6:.1f} MB on disk in 4 KiB blocks)" in out


def test_bench_reads_from_the_cache(textured_tree, tmp_path, capsys):
    args = ["bench", str(textured_tree), "--image-size", "8", "8", "--batch-size", "4", "--batches", "2"]
    assert cli.main([*args, "--workers", "2", "--quiet", "--cache", str(tmp_path / "c")]) == 0
    assert "images/s" in capsys.readouterr().out
    assert len(records(ImageCache(tmp_path / "c", (8, 8)))) > 0
