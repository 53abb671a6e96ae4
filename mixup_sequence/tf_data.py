"""A sequence's epochs as one `tf.data.Dataset`, for `tf.distribute` strategies.

Imported only by `ImageFolderSequence.to_tf_dataset()` and `.distribute()`.

`tf.distribute` treats a dataset it is given as the global batch stream: it
auto-shards it across workers (by data, for a generator) and splits each
batch into one piece a replica. A sequence that shards itself by host would
then be split again, and train on half its samples without a warning. Here
auto-sharding is off and the dataset is built per worker with
`distribute_datasets_from_function`, so each worker's batches reach its
replica whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tensorflow as tf

if TYPE_CHECKING:
    from mixup_sequence.sequence import ImageFolderSequence


def to_tf_dataset(seq: ImageFolderSequence, epochs: int | None = None, start_epoch: int = 0) -> tf.data.Dataset:
    """See `ImageFolderSequence.to_tf_dataset`."""
    if not isinstance(start_epoch, int) or start_epoch < 0:
        raise ValueError(f"`start_epoch` must be an integer >= 0. Received: start_epoch={start_epoch!r}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < start_epoch):
        raise ValueError(
            f"`epochs` must be None or an integer >= start_epoch={start_epoch}. Received: epochs={epochs!r}"
        )
    x_shape, y_shape = seq.loader.batch_shapes()
    signature = (
        tf.TensorSpec((None, *x_shape[1:]), tf.as_dtype(seq.loader.options.dtype)),
        tf.TensorSpec((None, *y_shape[1:]), tf.float32),
    )
    batches = len(seq.loader)

    def epoch_batches(epoch: Any) -> Any:
        for i in range(batches):
            yield seq.get_batch(i, int(epoch))

    if epochs is None:
        epoch_numbers = tf.data.Dataset.counter(start_epoch)
    else:
        epoch_numbers = tf.data.Dataset.range(start_epoch, epochs)
    dataset = epoch_numbers.flat_map(
        lambda e: tf.data.Dataset.from_generator(epoch_batches, args=(e,), output_signature=signature)
    )
    if epochs is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality((epochs - start_epoch) * batches))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(1)


def distribute(
    seq: ImageFolderSequence, strategy: tf.distribute.Strategy, epochs: int | None = None, start_epoch: int = 0
) -> Any:
    """See `ImageFolderSequence.distribute`."""
    shards = seq.loader.options.num_shards, seq.loader.options.shard_index

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        pipelines = context.num_input_pipelines, context.input_pipeline_id
        if pipelines != shards:
            raise ValueError(
                f"This worker is input pipeline {pipelines[1]} of {pipelines[0]}, but the sequence was made "
                f"with shard_index={shards[1]}, num_shards={shards[0]}. Pass shard_index=<this worker's index> "
                "and num_shards=<the number of workers>."
            )
        return to_tf_dataset(seq, epochs, start_epoch)

    return strategy.distribute_datasets_from_function(dataset_fn)
