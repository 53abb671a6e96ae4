"""One leg of a resume test; started as a child process by test_resume.py.

    python resume_child.py DATA WORKDIR STEP

STEP is "full" (4 epochs), "first" (2 epochs, leaving a backup and a
checkpoint), "backup" (a new process resuming from BackupAndRestore),
"checkpoint" (a new process resuming from the ModelCheckpoint with
fit(initial_epoch=2)), or "checkpoint-nosync" (the same without SyncEpoch).
Each writes its final weights to WORKDIR/STEP.npz.
"""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mixup_sequence import MixupSequence, SyncEpoch  # noqa: E402


def main(data, workdir, step):
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    seq = MixupSequence(
        data,
        batch_size=40,
        image_size=(16, 16),
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        seed=4,
        workers=2,
        use_multiprocessing=True,
    )
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    backup = keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"), delete_checkpoint=False)
    weights = os.path.join(workdir, "epoch2.weights.h5")
    if step == "full":
        model.fit(seq, epochs=4, shuffle=False, verbose=0)
    elif step == "first":
        checkpoint = keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)
        model.fit(seq, epochs=2, shuffle=False, verbose=0, callbacks=[backup, checkpoint, SyncEpoch(seq)])
    elif step == "backup":
        model.fit(seq, epochs=4, shuffle=False, verbose=0, callbacks=[backup, SyncEpoch(seq)])
    elif step.startswith("checkpoint"):
        model.load_weights(weights)
        callbacks = [] if step.endswith("nosync") else [SyncEpoch(seq)]
        model.fit(seq, initial_epoch=2, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    seq.close()
    np.savez(os.path.join(workdir, f"{step}.npz"), *model.get_weights(), epoch=seq.epoch)


if __name__ == "__main__":
    main(*sys.argv[1:])
