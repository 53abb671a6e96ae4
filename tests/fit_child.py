"""A training run for the failure tests; started as a child process by test_failures.py.

    python fit_child.py DATA PIDS_FILE EPOCHS

Writes "ready" and its worker pids to PIDS_FILE once training is under way,
then fits for EPOCHS epochs with 2 worker processes.
"""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from mixup_sequence import MixupSequence  # noqa: E402


class ReportPids(keras.callbacks.Callback):
    def __init__(self, seq, path):
        super().__init__()
        self.seq, self.path = seq, path

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1 and not os.path.exists(self.path):
            pids = [p.pid for p in self.seq._pool._procs]
            with open(self.path + ".tmp", "w") as f:
                f.write(" ".join(map(str, [os.getpid(), *pids])))
            os.replace(self.path + ".tmp", self.path)


def main(data, pids_file, epochs):
    import signal

    # Behave as a program started from a terminal: a process started in the background by a
    # non-interactive shell (as CI may start the test run) inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    seq = MixupSequence(data, batch_size=16, image_size=(32, 32), seed=1, workers=2, use_multiprocessing=True)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    model.fit(seq, epochs=epochs, shuffle=False, verbose=0, callbacks=[ReportPids(seq, pids_file)])
    print("fit finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
