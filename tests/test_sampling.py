"""`balance="class"` and `sample_weights`: weighted epochs, seeded, deterministic and shardable."""

import multiprocessing

import numpy as np
import pytest
from conftest import make_tree

from mixup_sequence import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.plan import Sampler, sampling_probabilities

# 75 samples: classes of 60, 12 and 3.
LABELS = np.repeat([0, 1, 2], [60, 12, 3]).astype(np.int32)


def sampler(labels=LABELS, seed=3, **options):
    return Sampler(len(labels), LoaderOptions(**{"batch_size": 8, **options}), seed, labels=labels)


def epoch(s, e):
    return np.concatenate([s.batch_samples(e, i) for i in range(len(s))])


@pytest.mark.parametrize(
    "labels, balance, weights, expected",
    [
        ([0, 0, 0, 1], "class", None, [1 / 6, 1 / 6, 1 / 6, 1 / 2]),
        ([0, 0, 1, 1], None, [1, 0, 3, 2], [1 / 6, 0, 3 / 6, 2 / 6]),
        # Each class half; within a class, in proportion to the weights.
        ([0, 0, 1, 1], "class", [1, 3, 0, 2], [1 / 8, 3 / 8, 0, 1 / 2]),
        # A class without weight gets no share: the others split it all.
        ([0, 0, 1, 2], "class", [1, 1, 0, 5], [1 / 4, 1 / 4, 0, 1 / 2]),
        # A class with no sample in this subset (label 1) is not counted.
        ([0, 2, 2, 2], "class", None, [1 / 2, 1 / 6, 1 / 6, 1 / 6]),
    ],
)
def test_probabilities(labels, balance, weights, expected):
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    got = sampling_probabilities(len(labels), np.asarray(labels), balance, w)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert sampling_probabilities(4, np.zeros(4), None, None) is None


def test_exactly_reproducible_and_a_new_draw_every_epoch():
    a, b = sampler(balance="class"), sampler(balance="class")
    for e in range(3):
        np.testing.assert_array_equal(epoch(a, e), epoch(b, e))  # fresh objects, the same draws
        assert len(epoch(a, e)) == len(LABELS)  # an epoch keeps its length
    assert not np.array_equal(epoch(a, 0), epoch(a, 1))
    assert not np.array_equal(epoch(a, 0), epoch(sampler(balance="class", seed=4), 0))
    drawn = epoch(a, 0)
    assert len(np.unique(drawn)) < len(drawn)  # with replacement: some samples repeat...
    assert (np.bincount(drawn, minlength=len(LABELS)) == 0).any()  # ...and some are absent
    # The draws are keyed by (seed, ORDER, epoch) and do not depend on the order of access.
    c = sampler(balance="class")
    np.testing.assert_array_equal(c.batch_samples(2, 3), a.batch_samples(2, 3))


def test_classes_are_drawn_equally_often_over_many_epochs():
    s = sampler(balance="class")
    drawn = np.concatenate([epoch(s, e) for e in range(400)])  # 30,000 draws
    shares = np.bincount(LABELS[drawn], minlength=3) / len(drawn)
    # Unbalanced, the shares would be 0.8, 0.16 and 0.04; a standard error here is about 0.003.
    np.testing.assert_allclose(shares, 1 / 3, atol=0.02)
    # Within a class every sample is equally likely: the rare class's 3 samples each near 1/9.
    rare = np.bincount(drawn[LABELS[drawn] == 2], minlength=75)[72:] / len(drawn)
    np.testing.assert_allclose(rare, 1 / 9, atol=0.01)


def test_sample_weights_set_the_frequencies_and_zero_is_never_drawn():
    labels = np.zeros(10, dtype=np.int32)
    weights = np.array([0, 1, 2, 3, 4, 0, 0, 0, 0, 10], dtype=np.float64)
    s = sampler(labels, sample_weights=weights, batch_size=3)
    drawn = np.concatenate([epoch(s, e) for e in range(2000)])  # 20,000 draws
    counts = np.bincount(drawn, minlength=10)
    assert (counts[weights == 0] == 0).all()
    np.testing.assert_allclose(counts / len(drawn), weights / weights.sum(), atol=0.015)


@pytest.mark.parametrize("num_shards", [2, 3])
def test_shards_take_disjoint_positions_of_one_global_draw(num_shards):
    whole = sampler(balance="class", batch_size=5)
    shards = [sampler(balance="class", batch_size=5, shard_index=k, num_shards=num_shards) for k in range(num_shards)]
    per_shard = len(LABELS) // num_shards
    for e in range(3):
        order = whole.epoch_order(e)
        for k, shard in enumerate(shards):
            np.testing.assert_array_equal(epoch(shard, e), order[k::num_shards][:per_shard])
        # Interleaved back, the shards are the global order's first positions, each position once.
        interleaved = np.stack([epoch(shard, e) for shard in shards], axis=1).ravel()
        np.testing.assert_array_equal(interleaved, order[: per_shard * num_shards])


def test_dataset_pairing_draws_partners_with_the_same_weights():
    labels = np.zeros(12, dtype=np.int32)
    weights = np.r_[np.zeros(6), np.ones(6)]
    s = Sampler(12, LoaderOptions(batch_size=4, pairing="dataset", sample_weights=weights), 1, MixConfig(), labels)
    partners = np.concatenate([s.partner_samples(e, i) for e in range(30) for i in range(len(s))])
    assert partners.min() >= 6  # zero-weight samples are never partners either
    assert not np.array_equal(s.partner_samples(0, 0), s.batch_samples(0, 0))  # a second, separate draw


def test_whole_batches_agree_across_processes(textured_tree):
    index = index_directory(textured_tree)
    weights = np.linspace(0.0, 1.0, index.samples)
    opts = LoaderOptions(batch_size=4, image_size=(8, 8), balance="class", sample_weights=weights)
    loader = BatchLoader(index, opts, 9, mix=MixConfig(0.4, 1.0))
    reference = [loader.load_batch(2, i) for i in range(len(loader))]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map(_load, [(loader, 2, i) for i in range(len(loader))])
    for (x, y), (gx, gy) in zip(reference, got):
        np.testing.assert_array_equal(gx, x)
        np.testing.assert_array_equal(gy, y)


def _load(args):
    loader, e, i = args
    return loader.load_batch(e, i)


def test_the_weights_are_copied_and_read_only():
    weights = np.ones(5)
    options = LoaderOptions(sample_weights=weights)
    weights[0] = 100.0
    assert options.sample_weights[0] == 1.0 and not options.sample_weights.flags.writeable
    # An array field takes no part in == and hashing (which it would break); the weights are checked apart.
    assert options == LoaderOptions(sample_weights=np.arange(1, 6)) and hash(options) == hash(LoaderOptions())
    assert "sample_weights" not in repr(options)


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"balance": "label"}, ValueError, "balance='label'"),
        ({"balance": "class", "shuffle": False}, ValueError, "shuffle=False, balance='class'"),
        ({"sample_weights": [1.0, 2.0], "shuffle": False}, ValueError, "shuffle=False"),
        ({"sample_weights": [[1.0, 2.0]]}, ValueError, "sample_weights=[[1. 2.]] (shape (1, 2)"),
        ({"sample_weights": [1.0, -1.0]}, ValueError, "sample_weights=[ 1. -1.]"),
        ({"sample_weights": [0, 0]}, ValueError, "sample_weights=[0 0]"),
        ({"sample_weights": [1.0, float("nan")]}, ValueError, "sample_weights=[ 1. nan]"),
        ({"sample_weights": ["a", "b"]}, ValueError, "sample_weights=['a' 'b']"),
        ({"sample_weights": []}, ValueError, "sample_weights=[]"),
    ],
)
def test_bad_sampling_arguments_are_refused(kwargs, error, received):
    with pytest.raises(error) as info:
        LoaderOptions(**kwargs)
    assert f"Received: {received}" in str(info.value)


def test_weights_must_match_the_samples(tmp_path):
    root = make_tree(tmp_path / "d", {"cat": 3, "dog": 2})
    opts = LoaderOptions(batch_size=2, image_size=(4, 4), sample_weights=np.ones(4))
    with pytest.raises(ValueError, match=r"aligned with `filepaths` \(5 samples.*Received: sample_weights of length 4"):
        BatchLoader(index_directory(root), opts, 1)
    with pytest.raises(ValueError, match="needs one integer label per sample"):
        Sampler(5, LoaderOptions(balance="class"), 1)
