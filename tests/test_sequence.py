"""The Keras PyDataset: arguments, epochs, and fit in every worker mode."""

import pickle

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mixup_sequence import BackupAndResume, ImageFolderSequence, MixupSequence, SyncEpoch  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.mark.parametrize(
    "kwargs, error, received",
    [
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"image_size": (0, 4)}, ValueError, "image_size=(0, 4)"),
        ({"image_size": (4, 4, 3)}, ValueError, "image_size=(4, 4, 3)"),
        ({"color_mode": "cmyk"}, ValueError, "color_mode='cmyk'"),
        ({"interpolation": "fancy"}, ValueError, "interpolation='fancy'"),
        ({"validation_split": 1.2, "subset": "training"}, ValueError, "validation_split=1.2"),
        ({"validation_split": 0.2}, ValueError, "subset=None"),
        ({"subset": "training"}, ValueError, "validation_split=None"),
        ({"validation_split": 0.2, "subset": "test"}, ValueError, "subset='test'"),
        ({"mixup_alpha": -0.1}, ValueError, "mixup_alpha=-0.1"),
        ({"switch_prob": 2}, ValueError, "switch_prob=2"),
        ({"mix_prob": -1}, ValueError, "mix_prob=-1"),
        ({"mix_mode": "pair"}, ValueError, "mix_mode='pair'"),
        ({"pairing": "global"}, ValueError, "pairing='global'"),
        ({"seed": -3}, ValueError, "seed=-3"),
        ({"value_range": (1, 0)}, ValueError, "value_range=(1, 0)"),
        ({"augment": "flip"}, TypeError, "augment='flip'"),
        ({"shuffle": "yes"}, TypeError, "shuffle='yes'"),
        ({"mixup_alpha": "0.2"}, TypeError, "mixup_alpha='0.2'"),
        ({"switch_prob": None}, TypeError, "switch_prob=None"),
        ({"class_names": "dog"}, TypeError, "class_names='dog'"),
        ({"class_names": ["a", "a"]}, ValueError, "class_names=['a', 'a']"),
        ({"follow_links": 1}, TypeError, "follow_links=1"),
        ({"use_multiprocessing": "yes"}, TypeError, "use_multiprocessing='yes'"),
        ({"workers": -1}, ValueError, "workers=-1"),
        ({"max_queue_size": 0}, ValueError, "max_queue_size=0"),
        ({"drop_remainder": None}, TypeError, "drop_remainder=None"),
        ({"num_shards": 0}, ValueError, "num_shards=0"),
        ({"shard_index": 2, "num_shards": 2}, ValueError, "shard_index=2"),
        ({"on_error": "ignore"}, ValueError, "on_error='ignore'"),
        ({"max_pixels": 0}, ValueError, "max_pixels=0"),
        ({"start_method": "thread"}, ValueError, "start_method='thread'"),
    ],
)
@pytest.mark.parametrize("cls", [MixupSequence, ImageFolderSequence])
def test_bad_arguments_fail_before_touching_the_disk(cls, kwargs, error, received):
    mixing_args = {"mixup_alpha", "cutmix_alpha", "switch_prob", "mix_prob", "mix_mode", "pairing"}
    if cls is ImageFolderSequence and mixing_args & kwargs.keys():
        with pytest.raises(TypeError, match="unexpected keyword"):
            cls("/definitely/not/a/folder", **kwargs)
        return
    with pytest.raises(error) as info:
        cls("/definitely/not/a/folder", **kwargs)
    assert f"Received: {received}" in str(info.value) or received in str(info.value)


def test_attributes_repr_and_seed(tree):
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8))
    assert seq.class_names == ["cat", "dog", "fox"]
    assert seq.class_indices == {"cat": 0, "dog": 1, "fox": 2}
    assert seq.samples == 18 and seq.num_classes == 3 and len(seq) == 5
    assert isinstance(seq.seed, int) and 0 <= seq.seed < 2**32
    assert "MixupSequence(" in repr(seq) and f"seed={seq.seed}" in repr(seq)
    again = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=seq.seed)
    np.testing.assert_array_equal(again[2][0], seq[2][0])


def test_validation_subset_is_one_hot_and_unmixed(tree):
    val = ImageFolderSequence(tree, batch_size=32, image_size=(8, 8), validation_split=0.34, subset="validation")
    train = ImageFolderSequence(
        tree, batch_size=32, image_size=(8, 8), validation_split=0.34, subset="training", seed=1
    )
    assert val.samples + train.samples == 18
    assert not set(val.filepaths) & set(train.filepaths)
    x, y = val[0]
    assert set(np.unique(y)) == {0.0, 1.0}
    # Solid images: each unmixed image is one colour.
    assert (x == x[:, :1, :1]).all()


def _epoch_zero_batch(tree, epoch):
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    seq.set_epoch(epoch)
    return seq[0][0]


@pytest.mark.parametrize("pairs", [False, True], ids=["on_epoch_end only", "begin/end pairs"])
def test_a_plain_loop_gets_a_new_epoch_at_every_on_epoch_end(tree, pairs):
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    seen = []
    for _ in range(3):
        if pairs:
            seq.on_epoch_begin()
        seen.append(seq.epoch)
        first = seq[0][0]
        for i in range(1, len(seq)):
            seq[i]
        np.testing.assert_array_equal(first, _epoch_zero_batch(tree, seen[-1]))
        seq.on_epoch_end()
    assert seen == [0, 1, 2] and seq.epoch == 3
    # A second on_epoch_end with no batch served in between ends nothing.
    seq.on_epoch_end()
    assert seq.epoch == 3
    # One batch is enough: the batch after on_epoch_end is the next epoch's.
    other = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    x0 = other[0][0]
    other.on_epoch_end()
    assert other.epoch == 1
    assert not np.array_equal(other[0][0], x0)
    with pytest.raises(ValueError, match="epoch=-1"):
        other.set_epoch(-1)


def test_keras_iterator_resets_do_not_advance_the_epoch(tree):
    from keras.src.trainers.epoch_iterator import EpochIterator

    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    iterator = EpochIterator(x=seq, shuffle=False)
    # As JAX and PyTorch do for an unbuilt model: fetch one batch, discard it, reset.
    for _, _, batches in iterator:
        np.testing.assert_array_equal(batches[0][0], _epoch_zero_batch(tree, 0))
        break
    iterator.reset()
    assert seq.epoch == 0
    for expected in (0, 1):  # two epochs as fit runs them
        served = [x for _, _, batches in iterator.enumerate_epoch() for x, _ in batches]
        assert len(served) == len(seq)
        np.testing.assert_array_equal(served[0], _epoch_zero_batch(tree, expected))
        assert seq.epoch == expected + 1
    iterator.reset()  # a second fit's reset
    assert seq.epoch == 2


@pytest.mark.parametrize("workers", [{}, {"workers": 2, "use_multiprocessing": True}])
def test_epoch_resumed_midway_serves_only_its_remaining_batches(tree, workers):
    reference = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    reference.set_epoch(1)
    n = len(reference)
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3, **workers)
    seq.set_epoch(1, start=2)  # as BackupAndResume does at on_epoch_begin
    assert len(seq) == n - 2
    for j in range(n - 2):
        np.testing.assert_array_equal(seq[j][0], reference[j + 2][0])
    with pytest.raises(IndexError, match=f"Received: {n - 2}"):
        seq[n - 2]
    seq.on_epoch_begin()
    seq.on_epoch_end()
    assert (seq.epoch, len(seq)) == (2, n)
    # A fit that dies inside a resumed epoch: the next fit's reset ends the shortened epoch.
    seq.set_epoch(2, start=3)
    seq.on_epoch_end()
    assert (seq.epoch, len(seq)) == (2, n)
    with pytest.raises(ValueError, match=f"start={n}"):
        seq.set_epoch(2, start=n)
    seq.close()


def test_callbacks_take_only_sequences(tree, tmp_path):
    with pytest.raises(TypeError, match="`SyncEpoch` takes ImageFolderSequence"):
        SyncEpoch([1, 2])
    with pytest.raises(TypeError, match="`BackupAndResume` takes ImageFolderSequence"):
        BackupAndResume(tmp_path, "data/")


def test_pickles_small(tree):
    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3, workers=2, use_multiprocessing=True)
    blob = pickle.dumps(seq)
    assert len(blob) < 20_000
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone[1][0], seq[1][0])


def _fit_weights(root, seed, **workers):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    seq = MixupSequence(root, batch_size=4, image_size=(8, 8), mixup_alpha=0.4, cutmix_alpha=1.0, seed=seed, **workers)
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    model.fit(seq, epochs=3, shuffle=False, verbose=0)
    assert seq.epoch == 3
    return [w.copy() for w in model.get_weights()]


@pytest.mark.slow
def test_fit_identical_weights_in_every_worker_mode(textured_tree):
    reference = _fit_weights(textured_tree, seed=5)
    for workers in ({"workers": 2}, {"workers": 2, "use_multiprocessing": True}, {}):
        got = _fit_weights(textured_tree, seed=5, **workers)
        for a, b in zip(reference, got):
            np.testing.assert_array_equal(a, b)
    other_seed = _fit_weights(textured_tree, seed=6)
    assert not all(np.array_equal(a, b) for a, b in zip(reference, other_seed))


def test_tf_dataset_makes_each_epoch_explicitly(tree):
    import tensorflow as tf

    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3)
    n = len(seq)
    dataset = seq.to_tf_dataset(epochs=3, start_epoch=1)
    assert int(dataset.cardinality()) == 2 * n
    got = [x.numpy() for x, _ in dataset]
    for k, x in enumerate(got):
        seq.set_epoch(1 + k // n)
        np.testing.assert_array_equal(x, seq[k % n][0])
    assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
    with pytest.raises(ValueError, match="epochs=0"):
        seq.to_tf_dataset(epochs=0, start_epoch=1)


def test_uint8_batches_train_through_rescaling(tree):
    import tensorflow as tf

    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3, dtype="uint8", workers=2)
    x, y = seq[0]
    assert x.dtype == np.uint8 and y.dtype == np.float32
    as_float = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3, value_range=(0, 255))
    assert np.abs(x - as_float[0][0]).max() <= 0.5 + 1e-3
    assert seq.to_tf_dataset(epochs=1).element_spec[0].dtype == tf.uint8
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(seq, epochs=2, shuffle=False, verbose=0)
    assert seq.epoch == 2 and np.isfinite(history.history["loss"]).all()
    seq.close()


def test_distribute_refuses_a_shard_that_is_not_this_workers(tree):
    import tensorflow as tf

    seq = MixupSequence(tree, batch_size=4, image_size=(8, 8), seed=3, shard_index=1, num_shards=2)
    with pytest.raises(ValueError, match="input pipeline 0 of 1.*shard_index=1, num_shards=2"):
        seq.distribute(tf.distribute.get_strategy(), epochs=1)
