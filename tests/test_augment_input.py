"""`augment_input="decoded"`: pipelines that crop and resize the decoded image themselves."""

import errno
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import albumentations as A
import cv2
import numpy as np
import pytest

from mixup_sequence import _rng, index_directory
from mixup_sequence import decode as decode_module
from mixup_sequence.cache import HEADER_BYTES, CacheSpaceError, ImageCache, fill_cache, open_cache
from mixup_sequence.decode import load_decoded, reduction_factor
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions

SIZE = (24, 32)
MIX = MixConfig(0.4, 1.0)


def write_photo(path, size, seed, ext=".jpg"):
    """Writes a smooth, textured image of `size=(height, width)` (JPEG keeps it close to the pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(size[0] // 8, 2), max(size[1] // 8, 2), 3), dtype=np.uint8)
    image = cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"could not write {path}")
    return path


@pytest.fixture
def photo_tree(tmp_path):
    """Two classes of JPEGs and PNGs of several sizes, all larger than `SIZE`, some over twice as large."""
    root = tmp_path / "photos"
    sizes = [(120, 160), (200, 150), (60, 80), (97, 131), (300, 400)]
    for c, name in enumerate(("a", "b")):
        for k, size in enumerate(sizes):
            write_photo(root / name / f"{k}.jpg", size, seed=10 * c + k)
        write_photo(root / name / "p.png", (70, 90), seed=50 + c, ext=".png")
    return root


def crop_pipeline(size=SIZE):
    return A.Compose([A.RandomResizedCrop(size=size), A.HorizontalFlip()])


def make_loader(root, augment=None, cache=None, mix=MIX, **overrides):
    opts = LoaderOptions(**{"batch_size": 4, "image_size": SIZE, "augment_input": "decoded", **overrides})
    index = index_directory(root)
    opened = None if cache is None else open_cache(cache, opts, index)
    augment = crop_pipeline() if augment is None else augment
    return BatchLoader(index, opts, 7, augment=augment, mix=mix, cache=opened)


def all_batches(loader, epoch):
    return [loader.load_batch(epoch, i) for i in range(len(loader))]


def assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


class Recorder:
    """A pipeline that records the shape it receives and crops the centre at `size` (then resizes)."""

    def __init__(self, size=SIZE):
        self.size = size
        self.seen = []

    def __call__(self, image):
        self.seen.append(image.shape)
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top : top + side, left : left + side]
        return cv2.resize(square, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA).reshape(
            *self.size, image.shape[2]
        )


# --- what the pipeline receives ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "image_size, expected",
    [
        # 300x400 JPEG: 1/4 is 75x100, both sides >= 64; 1/8 (37x50) would not cover 64.
        ((64, 64), (75, 100, 3)),
        # max(image_size) = 80: 1/4 (75x100) falls short, so 1/2.
        ((80, 40), (150, 200, 3)),
        # Not twice the output size: full size.
        ((200, 160), (300, 400, 3)),
    ],
)
def test_a_jpeg_comes_at_the_reduced_scale_that_still_covers_image_size(tmp_path, image_size, expected):
    path = write_photo(tmp_path / "c" / "x.jpg", (300, 400), seed=1)
    image = load_decoded(str(path), image_size)
    assert image.shape == expected and image.dtype == np.uint8
    assert min(image.shape[:2]) >= max(image_size)  # a crop at image_size needs no enlargement
    f = reduction_factor((400, 300), image_size)
    if f > 1:  # and the next coarser scale would not have covered it
        assert min(300, 400) // (2 * f) < max(image_size)
    # The same pixels as OpenCV's own reduced decoding (or the full decode).
    flags = {1: cv2.IMREAD_COLOR_RGB, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}[f]
    reference = cv2.imread(str(path), flags)
    if f > 1:
        reference = cv2.cvtColor(reference, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, reference)


def test_the_pipeline_receives_the_decoded_image_and_other_formats_at_full_size(photo_tree):
    recorder = Recorder()
    loader = make_loader(photo_tree, augment=recorder, mix=None, shuffle=False)
    for i in range(len(loader)):
        x, _ = loader.load_batch(0, i)
        assert x.shape[1:] == (*SIZE, 3)
    index = loader.index
    expected = [load_decoded(index.path(k), SIZE).shape for k in range(index.samples)]
    assert recorder.seen == expected
    by_name = {index.relative_path(k): shape for k, shape in enumerate(expected)}
    assert by_name["a/p.png"] == (70, 90, 3)  # a PNG: full size
    assert by_name["a/4.jpg"] == (38, 50, 3)  # 300x400 at 1/8 (rounded up): both sides still >= 32
    assert by_name["a/1.jpg"] == (50, 38, 3)  # 200x150 at 1/4: 1/8 (25x18) would not cover 32
    assert by_name["a/2.jpg"] == (60, 80, 3)  # under twice the size: full size
    assert all(min(shape[:2]) >= min(SIZE) for shape in expected)


def test_grayscale_decoded_images_have_one_channel(photo_tree):
    recorder = Recorder()
    opts = LoaderOptions(batch_size=4, image_size=SIZE, augment_input="decoded", color_mode="grayscale")
    loader = BatchLoader(index_directory(photo_tree), opts, 3, augment=recorder)
    x, _ = loader.load_batch(0, 0)
    assert x.shape == (4, *SIZE, 1)
    assert all(shape[2] == 1 for shape in recorder.seen)


# --- the output contract -------------------------------------------------------------------------
def test_random_resized_crop_gives_image_size_deterministically(photo_tree):
    loader = make_loader(photo_tree)
    first = all_batches(loader, 1)
    assert all(x.shape[1:] == (*SIZE, 3) for x, _ in first)
    assert_same(all_batches(make_loader(photo_tree), 1), first)  # a fresh loader, the same batches
    assert not np.array_equal(all_batches(loader, 2)[0][0], first[0][0])
    # The crop is keyed by the sample: the image equals its crop drawn with the sample's own generator.
    k = int(loader.batch_samples(1, 0)[0])
    image = load_decoded(loader.index.path(k), SIZE)
    augmenter = loader.augmenter
    expected = augmenter.apply(image, augmenter.prepare(_rng.generator(7, _rng.AUGMENT, 1, k)), (*SIZE, 3))
    np.testing.assert_array_equal(loader.reader.read(k, 1, 0), expected)


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
def test_threads_and_processes_agree_with_serial(photo_tree, pairing):
    loader = make_loader(photo_tree, pairing=pairing)
    reference = all_batches(loader, 3)
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(lambda i: loader.load_batch(3, i), range(len(loader))))
    assert_same(threaded, reference)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        spawned = pool.map(_load, [(loader, 3, i) for i in range(len(loader))])
    assert_same(spawned, reference)


def _load(args):
    loader, epoch, i = args
    return loader.load_batch(epoch, i)


@pytest.mark.parametrize(
    "augment, received",
    [
        (crop_pipeline((16, 16)), "Received: uint8 (16, 16, 3)"),  # too small
        (crop_pipeline((32, 24)), "Received: uint8 (32, 24, 3)"),  # height and width swapped
        (lambda image: image, "Received: uint8 ("),  # no crop: the decoded size comes back
    ],
)
def test_a_wrong_output_shape_is_a_clear_error(photo_tree, augment, received):
    loader = make_loader(photo_tree, augment=augment, mix=None, shuffle=False)
    with pytest.raises(ValueError) as info:
        loader.load_batch(0, 0)
    message = str(info.value)
    assert received in message
    assert 'augment_input="decoded"' in message and f"Expected: {(*SIZE, 3)}" in message
    assert f"A.RandomResizedCrop(size={SIZE})" in message and 'augment_input="resized"' in message
    k = int(loader.batch_samples(0, 0)[0])
    assert repr(loader.index.path(k)) in message  # the file
    assert f"from an input of {load_decoded(loader.index.path(k), SIZE).shape}" in message


def test_the_default_mode_points_a_crop_to_decoded_mode(photo_tree):
    opts = LoaderOptions(batch_size=2, image_size=(48, 48), shuffle=False)
    loader = BatchLoader(index_directory(photo_tree), opts, 1, augment=crop_pipeline())
    with pytest.raises(ValueError) as info:
        loader.load_batch(0, 0)
    message = str(info.value)
    assert 'pass augment_input="decoded"' in message and "already resized to `image_size`" in message
    assert "Expected: (48, 48, 3)" in message and "Received: uint8 (24, 32, 3) from an input of (48, 48, 3)" in message
    assert repr(loader.index.path(0)) in message


@pytest.mark.parametrize("augment_input", ["resized", "decoded"])
def test_a_float32_pipeline_is_told_to_use_mean_and_std(photo_tree, augment_input):
    normalize = A.Compose([A.Resize(*SIZE), A.Normalize()])
    loader = make_loader(photo_tree, augment=normalize, augment_input=augment_input, mix=None, shuffle=False)
    with pytest.raises(ValueError) as info:
        loader.load_batch(0, 0)
    message = str(info.value)
    assert "must return uint8" in message and "remove it and pass mean= and std=" in message
    assert "x = (x - mean) / std" in message and "Received: float32" in message
    assert repr(loader.index.path(0)) in message


def test_decoded_mode_needs_a_pipeline(photo_tree):
    opts = LoaderOptions(image_size=SIZE, augment_input="decoded")
    with pytest.raises(ValueError, match=r"A\.RandomResizedCrop\(size=\(24, 32\)\).*Received: augment=None"):
        BatchLoader(index_directory(photo_tree), opts, 1)


def test_augment_input_is_checked():
    with pytest.raises(ValueError, match=r"one of \('resized', 'decoded'\). Received: augment_input='raw'"):
        LoaderOptions(augment_input="raw")


# --- the cache in decoded mode -------------------------------------------------------------------
def test_a_decoded_cache_holds_the_decoded_images_in_records_of_their_own_size(photo_tree, tmp_path, monkeypatch):
    index = index_directory(photo_tree)
    cache = ImageCache(tmp_path / "c", SIZE, augment_input="decoded").open()
    assert os.path.basename(cache.path).startswith("24x32-rgb-decoded-")
    assert "interpolation" not in cache.settings and cache.settings["augment_input"] == "decoded"
    resized = ImageCache(tmp_path / "c", SIZE)
    assert "augment_input" not in resized.settings  # the resized caches made before keep their directory
    summary = fill_cache(cache, index, progress=False)
    assert (summary.written, summary.present, summary.bad) == (index.samples, 0, {})
    sizes = []
    for k in range(index.samples):
        expected = load_decoded(index.path(k), SIZE)
        record = cache.record_path(index.relative_path(k))
        assert os.path.getsize(record) == HEADER_BYTES + expected.nbytes
        sizes.append(os.path.getsize(record))
        image, written = cache.fetch(index.relative_path(k), index.path(k))
        assert not written
        np.testing.assert_array_equal(image, expected)
    assert len(set(sizes)) > 2  # records of several sizes
    assert summary.disk_bytes == sum(-(-s // 4096) * 4096 + 64 for s in sizes)
    with pytest.raises(ValueError, match="vary in size"):
        cache.disk_bytes(index.samples)
    # Read back, nothing is decoded.
    monkeypatch.setattr(decode_module, "decode_bytes", lambda *a, **k: pytest.fail("decoded"))
    again = fill_cache(cache, index, progress=False)
    assert (again.written, again.present, again.disk_bytes) == (0, index.samples, summary.disk_bytes)


def test_cached_decoded_batches_equal_uncached(photo_tree, tmp_path):
    reference = make_loader(photo_tree)
    cold = make_loader(photo_tree, cache=tmp_path / "c")
    for epoch in (0, 1):
        assert_same(all_batches(cold, epoch), all_batches(reference, epoch))  # filling, then reading
    assert_same(all_batches(make_loader(photo_tree, cache=tmp_path / "c"), 2), all_batches(reference, 2))


def test_a_torn_or_foreign_decoded_record_is_decoded_again(photo_tree, tmp_path):
    cache = ImageCache(tmp_path / "c", SIZE, augment_input="decoded").open()
    a, b = str(photo_tree / "a" / "0.jpg"), str(photo_tree / "a" / "4.jpg")
    cache.load("a/0.jpg", a)
    cache.load("a/4.jpg", b)
    record = cache.record_path("a/0.jpg")
    with open(record, "r+b") as f:  # torn: header and part of the pixels
        f.truncate(HEADER_BYTES + 10)
    assert cache.read("a/0.jpg", a) is None
    np.testing.assert_array_equal(cache.load("a/0.jpg", a), load_decoded(a, SIZE))
    with open(record, "ab") as f:  # longer than its header's shape says
        f.write(b"\0" * 3)
    assert cache.read("a/0.jpg", a) is None
    with open(cache.record_path("a/4.jpg"), "rb") as f:  # another file's record under this name
        foreign = f.read()
    with open(record, "wb") as f:
        f.write(foreign)
    assert cache.read("a/0.jpg", a) is None
    np.testing.assert_array_equal(cache.load("a/0.jpg", a), load_decoded(a, SIZE))
    np.testing.assert_array_equal(cache.read("a/0.jpg", a), load_decoded(a, SIZE))


def test_a_loader_refuses_a_cache_of_the_other_mode(photo_tree, tmp_path):
    index = index_directory(photo_tree)
    resized = ImageCache(tmp_path / "c", SIZE)
    decoded = ImageCache(tmp_path / "c", SIZE, augment_input="decoded", interpolation="nearest")
    with pytest.raises(ValueError, match="augment_input.*Received: cache=ImageCache"):
        BatchLoader(index, LoaderOptions(image_size=SIZE, augment_input="decoded"), 1, crop_pipeline(), cache=resized)
    with pytest.raises(ValueError, match="Received: cache=ImageCache"):
        BatchLoader(index, LoaderOptions(image_size=SIZE), 1, cache=decoded)
    # In decoded mode the resize filter plays no part, so a cache made with another one serves.
    BatchLoader(index, LoaderOptions(image_size=SIZE, augment_input="decoded"), 1, crop_pipeline(), cache=decoded)


def test_decoded_space_is_checked_by_files_up_front_and_by_bytes_on_write(photo_tree, tmp_path, monkeypatch):
    index = index_directory(photo_tree)  # 12 files
    opts = LoaderOptions(image_size=SIZE, augment_input="decoded")
    real = os.statvfs

    def statvfs(free_blocks, inodes):
        def fake(path):
            s = real(path)
            return os.statvfs_result(
                (s.f_bsize, 4096, s.f_blocks, free_blocks, free_blocks, 10**6, inodes, inodes, s.f_flag, s.f_namemax)
            )

        return fake

    monkeypatch.setattr(os, "statvfs", statvfs(free_blocks=1, inodes=10**6))
    cache = open_cache(tmp_path / "c", opts, index)  # sizes are unknown until decoded: not refused on bytes
    monkeypatch.setattr(os, "statvfs", statvfs(free_blocks=1, inodes=3))
    with pytest.raises(CacheSpaceError, match="needs 12 more files.*3 free inodes"):
        open_cache(tmp_path / "c", opts, index)
    monkeypatch.setattr(os, "statvfs", real)
    real_open = os.open

    def full(file, flags, *args, **kwargs):
        if os.fspath(file).startswith(os.path.join(cache.path, "tmp")):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    path = str(photo_tree / "a" / "p.png")
    with pytest.raises(CacheSpaceError) as info:
        cache.load("a/p.png", path)
    assert info.value.needed == HEADER_BYTES + 70 * 90 * 3
    assert f"a record needs {HEADER_BYTES + 70 * 90 * 3:,} bytes" in str(info.value)
