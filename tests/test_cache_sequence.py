"""The sequences' `cache=` argument, `cache` attribute and `build_cache()`."""

import os
import pickle

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mixup_sequence import ImageFolderSequence, MixupSequence  # noqa: E402
from mixup_sequence.cache import CacheSpaceError, ImageCache  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.mark.parametrize("cls", [MixupSequence, ImageFolderSequence])
@pytest.mark.parametrize("cache", [3, "", ["c"]])
def test_a_bad_cache_argument_fails_before_touching_the_disk(cls, cache):
    with pytest.raises(TypeError) as info:
        cls("/definitely/not/a/folder", cache=cache)
    assert f"Received: cache={cache!r}" in str(info.value)


def test_default_is_no_cache(tree):
    seq = ImageFolderSequence(tree, batch_size=4, image_size=(8, 8))
    assert seq.cache is None
    with pytest.raises(ValueError, match="needs a sequence made with `cache=DIRECTORY`. Received: cache=None"):
        seq.build_cache()


@pytest.mark.parametrize("cls", [MixupSequence, ImageFolderSequence])
def test_cached_batches_equal_uncached_and_build_cache_fills_it(textured_tree, tmp_path, cls, capsys):
    kwargs = dict(batch_size=4, image_size=(8, 6), seed=3, interpolation="bilinear")
    cached = cls(textured_tree, cache=tmp_path / "c", validation_split=0.3, subset="training", **kwargs)
    plain = cls(textured_tree, validation_split=0.3, subset="training", **kwargs)
    assert isinstance(cached.cache, ImageCache)
    assert cached.cache.image_size == (8, 6) and cached.cache.interpolation == "bilinear"
    assert os.path.dirname(cached.cache.path) == str(tmp_path / "c")
    cached[0]  # a few records written by the first batch
    summary = cached.build_cache(workers=2)
    assert "cache: 12/12 files (100%" in capsys.readouterr().err
    assert summary.records == cached.samples == 12 and summary.written + summary.present == 12
    assert summary.present == 4 and summary.bad == {}
    again = cached.build_cache(progress=False)
    assert (again.written, again.present) == (0, 12)
    for epoch in (0, 1):
        cached.set_epoch(epoch)
        plain.set_epoch(epoch)
        for i in range(len(plain)):
            np.testing.assert_array_equal(cached[i][0], plain[i][0])
            np.testing.assert_array_equal(cached[i][1], plain[i][1])


def test_worker_processes_read_and_fill_the_same_cache(textured_tree, tmp_path):
    kwargs = dict(batch_size=4, image_size=(8, 8), seed=5, mixup_alpha=0.4, cutmix_alpha=1.0)
    cached = MixupSequence(textured_tree, cache=tmp_path / "c", workers=2, use_multiprocessing=True, **kwargs)
    plain = MixupSequence(textured_tree, **kwargs)
    try:
        for i in range(len(plain)):
            np.testing.assert_array_equal(cached[i][0], plain[i][0])
        restored = pickle.loads(pickle.dumps(cached))
        assert restored.cache.path == cached.cache.path
    finally:
        cached.close()


def test_a_disk_too_small_is_refused_when_the_sequence_is_made(textured_tree, tmp_path, monkeypatch):
    real = os.statvfs

    def almost_full(path):
        s = real(path)
        return os.statvfs_result((s.f_bsize, 4096, s.f_blocks, 3, 3, 0, 0, 0, s.f_flag, s.f_namemax))

    monkeypatch.setattr(os, "statvfs", almost_full)
    with pytest.raises(CacheSpaceError) as info:
        MixupSequence(textured_tree, image_size=(64, 64), cache=tmp_path / "c")
    message = str(info.value)
    assert str(tmp_path / "c") in message and "12,288 bytes free" in message
    assert f"{18 * (4 * 4096 + 64):,} bytes more for 18 of 18 images" in message
