"""Fits a tf_keras (Keras 2) model on the sequence; started by test_keras2.py.

python keras2_child.py DATA WORKERS USE_MULTIPROCESSING OUT.npz
"""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from mixup_sequence import MixupSequence  # noqa: E402


def main(data, workers, use_multiprocessing, out):
    tf.config.experimental.enable_op_determinism()
    tf_keras.utils.set_random_seed(0)
    seq = MixupSequence(data, batch_size=40, image_size=(16, 16), mixup_alpha=0.4, cutmix_alpha=1.0, seed=4)
    model = tf_keras.Sequential([tf_keras.Input((16, 16, 3)), tf_keras.layers.Flatten(), tf_keras.layers.Dense(10)])
    model.compile(tf_keras.optimizers.SGD(0.1), tf_keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(
        seq.for_tf_keras(),
        epochs=3,
        shuffle=False,
        verbose=0,
        workers=int(workers),
        use_multiprocessing=use_multiprocessing == "1",
    )
    np.savez(out, *model.get_weights(), epoch=seq.epoch)


if __name__ == "__main__":
    main(*sys.argv[1:])
