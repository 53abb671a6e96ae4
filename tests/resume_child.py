"""One leg of a resume test; started as a child process by test_resume.py.

    python resume_child.py DATA WORKDIR STEP [KILL]

STEP is "full" (4 epochs), "first" (2 epochs, leaving a backup and a
checkpoint), "backup" (a new process resuming from BackupAndRestore),
"checkpoint" (a new process resuming from the ModelCheckpoint with
fit(initial_epoch=2)), "checkpoint-nosync" (the same without SyncEpoch),
"mid" (4 epochs with BackupAndResume saving every 3 batches) or "mid-keras"
(the same with Keras' BackupAndRestore and SyncEpoch). KILL, "EPOCH.BATCH",
ends the process with os._exit (as a kill would) once that batch of the
sequence has been trained. Each run that finishes writes its final weights
and the (epoch, batch) pairs it requested to WORKDIR/STEP.npz.
"""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mixup_sequence import BackupAndResume, MixupSequence, SyncEpoch  # noqa: E402


class Recording(MixupSequence):
    """Records the (epoch, batch) of every batch requested."""

    served: list

    def __getitem__(self, index):
        self.served.append((self.epoch, self.start + index))
        return super().__getitem__(index)


class Kill(keras.callbacks.Callback):
    def __init__(self, seq, spec):
        super().__init__()
        self.seq = seq
        self.at = tuple(int(v) for v in spec.split("."))

    def on_train_batch_end(self, batch, logs=None):
        if (self.seq.epoch, self.seq.start + batch) == self.at:
            os._exit(3)


def main(data, workdir, step, kill=None):
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    seq = Recording(
        data,
        batch_size=40,
        image_size=(16, 16),
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        seed=4,
        workers=2,
        use_multiprocessing=True,
    )
    seq.served = []
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
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
        model.optimizer.build(model.trainable_variables)  # or its momenta would not be restored
        model.load_weights(weights)
        callbacks = [] if step.endswith("nosync") else [SyncEpoch(seq)]
        model.fit(seq, initial_epoch=2, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    elif step.startswith("mid"):
        directory = os.path.join(workdir, step)
        if step == "mid":
            callbacks = [BackupAndResume(directory, seq, save_freq=3)]
        else:
            callbacks = [keras.callbacks.BackupAndRestore(directory, save_freq=3), SyncEpoch(seq)]
        if kill:
            callbacks.append(Kill(seq, kill))
        model.fit(seq, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    seq.close()
    np.savez(os.path.join(workdir, f"{step}.npz"), *model.get_weights(), epoch=seq.epoch, served=np.array(seq.served))


if __name__ == "__main__":
    main(*sys.argv[1:])
