"""The batch path without Keras: determinism in any mode and order of access."""

import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor

import albumentations as A
import numpy as np
import pytest
from conftest import make_tree

from mixup_sequence import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions


def make_loader(root, **overrides):
    opts = dict(batch_size=4, image_size=(8, 8))
    mix = overrides.pop("mix", MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0))
    augment = overrides.pop("augment", A.Compose([A.HorizontalFlip(), A.Affine(rotate=(-20, 20), p=0.7)]))
    seed = overrides.pop("seed", 11)
    opts.update(overrides)
    return BatchLoader(index_directory(root), LoaderOptions(**opts), seed, augment=augment, mix=mix)


def all_batches(loader, epoch, order=None):
    order = range(len(loader)) if order is None else order
    return {i: loader.load_batch(epoch, i) for i in order}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for i in a:
        np.testing.assert_array_equal(a[i][0], b[i][0])
        np.testing.assert_array_equal(a[i][1], b[i][1])


def _load_in_child(args):
    loader, epoch, i = args
    return i, loader.load_batch(epoch, i)


def test_any_order_and_fresh_objects_agree(textured_tree):
    reference = all_batches(make_loader(textured_tree), epoch=2)
    shuffled = all_batches(make_loader(textured_tree), epoch=2, order=[4, 1, 3, 0, 2, 1])
    assert_same({i: reference[i] for i in shuffled}, shuffled)


def test_threads_agree_with_serial(textured_tree):
    loader = make_loader(textured_tree)
    reference = all_batches(loader, epoch=1)
    with ThreadPoolExecutor(2) as pool:
        got = dict(zip(range(len(loader)), pool.map(lambda i: loader.load_batch(1, i), range(len(loader)))))
    assert_same(reference, got)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_agree_with_serial(textured_tree, method):
    loader = make_loader(textured_tree)
    reference = all_batches(loader, epoch=3)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        got = dict(pool.map(_load_in_child, [(loader, 3, i) for i in range(len(loader))]))
    assert_same(reference, got)


def test_epochs_differ_and_shuffle_covers_every_sample(textured_tree):
    loader = make_loader(textured_tree, mix=None, augment=None)
    n = loader.index.samples
    orders = [np.concatenate([loader.batch_samples(e, i) for i in range(len(loader))]) for e in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(n))
    assert not np.array_equal(orders[0], orders[1])
    unshuffled = make_loader(textured_tree, shuffle=False)
    assert np.concatenate([unshuffled.batch_samples(5, i) for i in range(len(unshuffled))]).tolist() == list(range(n))


def test_seed_changes_batches(textured_tree):
    a = make_loader(textured_tree, seed=1).load_batch(0, 0)
    b = make_loader(textured_tree, seed=2).load_batch(0, 0)
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize(
    "batch_size, drop, lengths",
    [(4, False, [4, 4, 4, 4, 2]), (4, True, [4] * 4), (1, False, [1] * 18), (5, False, [5, 5, 5, 3])],
)
def test_partial_last_batch_and_odd_sizes(textured_tree, batch_size, drop, lengths):
    loader = make_loader(textured_tree, batch_size=batch_size, drop_remainder=drop)
    got = [loader.load_batch(0, i) for i in range(len(loader))]
    assert [len(x) for x, _ in got] == lengths
    for x, y in got:
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert x.shape[1:] == (8, 8, 3) and y.shape[1:] == (2,)
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        assert x.min() >= 0 and x.max() <= 1
    with pytest.raises(IndexError):
        loader.load_batch(0, len(loader))


def test_drop_remainder_larger_than_dataset(textured_tree):
    with pytest.raises(ValueError, match="no batch"):
        make_loader(textured_tree, batch_size=100, drop_remainder=True)


def test_augmentation_keyed_by_sample_not_position(textured_tree):
    # The same sample in the same epoch gets the same augmentation whatever its batch.
    small = make_loader(textured_tree, mix=None, shuffle=False, batch_size=3)
    large = make_loader(textured_tree, mix=None, shuffle=False, batch_size=6)
    np.testing.assert_array_equal(small.load_batch(0, 1)[0], large.load_batch(0, 0)[0][3:])


def test_dataset_pairing_decodes_partners_separately(textured_tree):
    loader = make_loader(textured_tree, pairing="dataset", augment=None, mix=MixConfig(mixup_alpha=1.0))
    partners = np.concatenate([loader.sampler.partner_samples(0, i) for i in range(len(loader))])
    assert sorted(partners.tolist()) == list(range(loader.index.samples))
    x, y = loader.load_batch(0, 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(loader.load_batch(0, 0)[0], x)


def test_pickle_is_small_and_equivalent(textured_tree):
    loader = make_loader(textured_tree)
    reference = loader.load_batch(1, 2)
    blob = pickle.dumps(loader)
    assert len(blob) < 20_000
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.load_batch(1, 2)[0], reference[0])


def test_errors_name_file_class_and_batch(textured_tree):
    victim = sorted((textured_tree / "b").iterdir())[0]
    victim.write_bytes(b"garbage")
    loader = make_loader(textured_tree, shuffle=False, batch_size=18)
    with pytest.raises(OSError) as info:
        loader.load_batch(0, 0)
    assert victim.name in str(info.value)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "class 'b'" in notes and "batch 0 of epoch 0" in notes


def test_forked_workers_after_opencv_pool_ran_in_parent_do_not_hang(textured_tree):
    import cv2

    from mixup_sequence import _threads

    # Run OpenCV's own thread pool in the parent first, as a user's code may.
    cv2.resize(np.zeros((2000, 2000, 3), np.uint8), (1000, 1000))
    _threads.limit_opencv_threads_for_workers()  # what the Sequence does when given workers
    assert cv2.getNumThreads() == 1
    loader = make_loader(textured_tree)
    reference = all_batches(loader, epoch=0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        result = pool.map_async(_load_in_child, [(loader, 0, i) for i in range(len(loader))])
        got = dict(result.get(timeout=120))  # a hang fails here instead of blocking CI
    assert_same(reference, got)


@pytest.fixture
def black_white_tree(tmp_path):
    """Class "a": black images; class "b": white ones; grayscale PNGs."""
    import cv2

    root = tmp_path / "bw"
    for name, value, count in (("a", 0, 7), ("b", 255, 6)):
        (root / name).mkdir(parents=True)
        for k in range(count):
            cv2.imwrite(str(root / name / f"{k}.png"), np.full((9, 11), value, np.uint8))
    return root


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
@pytest.mark.parametrize("mix_mode", ["sample", "batch"])
def test_labels_equal_pixel_shares_end_to_end(black_white_tree, pairing, mix_mode):
    mix = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mix_mode=mix_mode)
    loader = make_loader(
        black_white_tree,
        batch_size=5,
        image_size=(9, 11),
        color_mode="grayscale",
        pairing=pairing,
        augment=None,
        mix=mix,
    )
    mixed_rows = 0
    for epoch in range(3):
        for i in range(len(loader)):
            x, y = loader.load_batch(epoch, i)
            assert x.shape[-1] == 1
            # The brightness of a sample is the share of it that came from class "b".
            np.testing.assert_allclose(x.reshape(len(x), -1).mean(axis=1), y[:, 1], atol=1e-5)
            mixed_rows += int(np.sum((y[:, 1] > 0) & (y[:, 1] < 1)))
    assert mixed_rows > 10


def test_value_range_and_label_smoothing_through_the_loader(black_white_tree):
    mix = MixConfig(mixup_alpha=0.0, label_smoothing=0.1)
    loader = make_loader(
        black_white_tree, batch_size=13, image_size=(9, 11), value_range=(0, 255), augment=None, mix=mix, shuffle=False
    )
    x, y = loader.load_batch(0, 0)
    assert set(np.unique(x).tolist()) == {0.0, 255.0}
    np.testing.assert_allclose(y[0], [0.95, 0.05], rtol=1e-6)
    np.testing.assert_allclose(y[-1], [0.05, 0.95], rtol=1e-6)


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
def test_uint8_batches_are_the_float32_batches_rounded(textured_tree, pairing):
    as_float = make_loader(textured_tree, batch_size=5, pairing=pairing, value_range=(0, 255))
    as_uint8 = make_loader(textured_tree, batch_size=5, pairing=pairing, dtype="uint8")
    assert as_uint8.options.value_range == (0.0, 255.0)
    for i in range(len(as_float)):
        (xf, yf), (xu, yu) = as_float.load_batch(1, i), as_uint8.load_batch(1, i)
        assert xu.dtype == np.uint8 and xu.shape == xf.shape
        assert np.abs(xu - xf).max() <= 0.5 + 1e-3  # the same images and weights, rounded
        np.testing.assert_array_equal(yu, yf)  # labels stay float32 and exact


@pytest.mark.parametrize(
    "overrides, received",
    [({"dtype": "float16"}, "dtype='float16'"), ({"dtype": "uint8", "value_range": (0, 1)}, "value_range=(0, 1)")],
)
def test_dtype_is_checked(overrides, received):
    with pytest.raises(ValueError, match="dtype") as info:
        LoaderOptions(**overrides)
    assert f"Received: {received}" in str(info.value)


def _load_and_fail(args):
    loader, epoch, i = args
    loader.load_batch(epoch, i)


def test_error_notes_survive_a_worker_process(textured_tree):
    victim = sorted((textured_tree / "a").iterdir())[2]
    victim.write_bytes(b"")
    loader = make_loader(textured_tree, shuffle=False, batch_size=18)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        with pytest.raises(OSError) as info:
            pool.apply_async(_load_and_fail, ((loader, 4, 0),)).get(timeout=120)
    assert victim.name in str(info.value)
    assert "class 'a'" in "\n".join(info.value.__notes__) and "epoch 4" in "\n".join(info.value.__notes__)


@pytest.mark.parametrize("num_shards", [2, 3])
def test_shards_are_disjoint_equal_parts_of_one_global_order(textured_tree, num_shards):
    loaders = [
        make_loader(textured_tree, batch_size=2, shard_index=k, num_shards=num_shards) for k in range(num_shards)
    ]
    single = make_loader(textured_tree, batch_size=2)
    n = single.index.samples
    for epoch in range(3):
        parts = [np.concatenate([ld.batch_samples(epoch, i) for i in range(len(ld))]) for ld in loaders]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == n // num_shards
        union = np.concatenate(parts)
        assert len(set(union.tolist())) == len(union)  # disjoint
        global_order = np.concatenate([single.batch_samples(epoch, i) for i in range(len(single))])
        assert set(union.tolist()) <= set(global_order.tolist())
        assert n - len(union) < num_shards  # only the remainder is dropped
    # Shards mix with their own parameters, and each shard's batches stay deterministic.
    a, b = loaders[0].load_batch(1, 0), loaders[1].load_batch(1, 0)
    assert not np.array_equal(a[0], b[0])
    np.testing.assert_array_equal(
        make_loader(textured_tree, batch_size=2, shard_index=1, num_shards=num_shards).load_batch(1, 0)[0], b[0]
    )


def test_one_shard_is_the_unsharded_loader(textured_tree):
    a = make_loader(textured_tree, shard_index=0, num_shards=1)
    b = make_loader(textured_tree)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.load_batch(2, i)[0], b.load_batch(2, i)[0])


@pytest.mark.parametrize("pairing", ["batch", "dataset"])
@pytest.mark.parametrize("mix", [MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.8), None])
def test_batch_equals_decoding_everything_then_mixing(textured_tree, pairing, mix):
    """Loading along the partner cycles gives exactly the batch of "decode all samples, then mix them"."""
    from mixup_sequence import _rng, mixing

    loader = make_loader(textured_tree, batch_size=5, pairing=pairing, value_range=(-1.0, 1.0), mix=mix)
    for epoch, i in [(0, 0), (2, 1), (3, len(loader) - 1)]:
        samples = loader.batch_samples(epoch, i)
        images = np.stack([loader.reader.read(k, epoch, i, _rng.AUGMENT) for k in samples])
        partners = images
        if pairing == "dataset" and mix is not None:
            stream = _rng.PARTNER_AUGMENT
            partners = np.stack(
                [loader.reader.read(k, epoch, i, stream) for k in loader.sampler.partner_samples(epoch, i)]
            )
        params = loader.sampler.plan(epoch, i).params
        if mix is not None:
            assert (params.method != mixing.NONE).any()  # the check below covers mixed rows
        expected = mixing.mix_images(images, partners, params, value_range=(-1.0, 1.0))
        np.testing.assert_array_equal(loader.load_batch(epoch, i)[0], expected)


def test_unshuffled_shards_serve_every_sample_over_consecutive_epochs(tmp_path):
    # 30 samples in 4 classes (13, 9, 7, 1) over 4 shards: 2 left over each epoch.
    root = make_tree(tmp_path / "d", {"cat": 13, "dog": 9, "fox": 7, "owl": 1})
    shards = [make_loader(root, shuffle=False, shard_index=k, num_shards=4, mix=None) for k in range(4)]
    n = shards[0].index.samples
    served_per_epoch = []
    for epoch in range(15):  # ceil(30 / 2)
        parts = [np.concatenate([s.batch_samples(epoch, i) for i in range(len(s))]) for s in shards]
        union = np.concatenate(parts)
        assert len(set(union.tolist())) == len(union) == 28  # disjoint, equal shares, 2 left over
        assert all((np.diff(p) > 0).all() for p in parts)  # each shard stays in index order
        served_per_epoch.append(set(union.tolist()))
    assert set().union(*served_per_epoch) == set(range(n))
    # The window moves by 2 every epoch: epoch 0 leaves out 0 and 1, epoch 1 leaves out 2 and 3.
    assert set(range(n)) - served_per_epoch[0] == {0, 1}
    assert set(range(n)) - served_per_epoch[1] == {2, 3}
    # Without a remainder nothing moves: index order, striped over the shards.
    even = [make_loader(root, shuffle=False, shard_index=k, num_shards=5, mix=None) for k in range(5)]
    np.testing.assert_array_equal(even[1].epoch_order(3), np.arange(1, n, 5))
