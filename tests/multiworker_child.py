"""One worker of a two-process MultiWorkerMirroredStrategy run; started by test_multiworker.py.

    TF_CONFIG=... python multiworker_child.py DATA OUT_JSON [INPUT]

Trains one tf_keras model with `seq.distribute(strategy)` (INPUT "distribute",
the default; "sequence" passes `seq.for_tf_keras()` to fit) for 2 epochs, the
sequence sharded by this worker's index. Records, per training step, a digest
of the images its replica actually trained on (inside `train_step`), the
weights' digest after each epoch, and, for comparison, the digests and sample
positions of this shard's batches as the sequence makes them.
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from mixup_sequence import MixupSequence  # noqa: E402

EPOCHS = 2


def digest(array):
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def main(data, out, input_kind="distribute"):
    worker = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    # 9 classes, training subset: 315 samples, so sharding by 2 drops one sample an epoch.
    seq = MixupSequence(
        data,
        batch_size=16,
        image_size=(16, 16),
        class_names=[str(c) for c in range(9)],
        validation_split=0.125,
        subset="training",
        seed=7,
        shard_index=worker,
        num_shards=strategy.num_replicas_in_sync,
    )
    trained = []

    def record(x):
        trained.append(digest(x.numpy()))
        return 0

    class Recording(tf_keras.Model):
        def train_step(self, data):
            tf.py_function(record, [data[0]], tf.int32)
            return super().train_step(data)

    epoch_weights = []

    class WeightDigest(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epoch_weights.append(digest(np.concatenate([w.ravel() for w in self.model.get_weights()])))

    with strategy.scope():
        inputs = tf_keras.Input((16, 16, 3))
        hidden = tf_keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        outputs = tf_keras.layers.Dense(9, activation="softmax")(tf_keras.layers.GlobalAveragePooling2D()(hidden))
        model = Recording(inputs, outputs)
        model.compile(tf_keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    if input_kind == "distribute":
        inputs = {"x": seq.distribute(strategy, epochs=EPOCHS), "steps_per_epoch": len(seq)}
    else:
        inputs = {"x": seq.for_tf_keras()}
    model.fit(**inputs, epochs=EPOCHS, verbose=0, callbacks=[WeightDigest()])
    expected = [[digest(seq.get_batch(i, e)[0]) for i in range(len(seq))] for e in range(EPOCHS)]
    samples = [[seq.batch_samples(i, e).tolist() for i in range(len(seq))] for e in range(EPOCHS)]
    result = {
        "worker": worker,
        "replicas": strategy.num_replicas_in_sync,
        "samples": seq.samples,
        "batches": len(seq),
        "trained": trained,
        "expected": expected,
        "batch_samples": samples,
        "weights": epoch_weights,
    }
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
