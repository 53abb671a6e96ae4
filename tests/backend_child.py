"""Fits on one Keras backend and prints what the sequence served; started by test_backends.py.

    KERAS_BACKEND=jax python backend_child.py DATA MODE [START_METHOD]
    KERAS_BACKEND=jax python backend_child.py DATA fail-MODE

Prints one JSON line: the final epoch and, per (epoch, batch) served, a digest
of the batch, so the parent can compare backends and worker modes bit for bit.
After 2 epochs, a second fit resumes epoch 2 at batch 5 from a BackupAndResume
record, as a new process would after a backup that followed batch 4.
"""

import hashlib
import json
import os
import sys
import tempfile
import warnings

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from mixup_sequence import BackupAndResume, MixupSequence  # noqa: E402

MODES = {"serial": {}, "threads": {"workers": 2}, "processes": {"workers": 2, "use_multiprocessing": True}}


class Recording(MixupSequence):
    served: dict = {}

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        digest = hashlib.sha1(x.tobytes() + y.tobytes()).hexdigest()[:16]
        Recording.served[f"{self.epoch}:{self.start + index}"] = digest
        return x, y


def fail(data, mode):
    """Fits on a copy of DATA with one corrupt file; prints the type of what fit raised."""
    import shutil

    root = os.path.join(tempfile.mkdtemp(), "digits")
    shutil.copytree(data, root)
    seq = MixupSequence(root, batch_size=50, image_size=(16, 16), seed=9, shuffle=False, **MODES[mode])
    with open(seq.loader.index.path(50 * 3 + 1), "wb") as f:  # in batch 3
        f.write(b"not an image")
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    try:
        model.fit(seq, epochs=1, shuffle=False, verbose=0)
    except Exception as e:
        notes = " | ".join(getattr(e, "__notes__", []))
        print(json.dumps({"type": type(e).__name__, "text": f"{e} | {notes}"}))
    finally:
        seq.close()


def main(data, mode, start_method=None):
    warnings.filterwarnings("ignore", message=".*os.fork\\(\\) was called.*")  # JAX's; see README
    seq = Recording(
        data,
        batch_size=50,
        image_size=(16, 16),
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        seed=9,
        start_method=start_method,
        **MODES[mode],
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    model.fit(seq, epochs=2, shuffle=False, verbose=0)
    backup = tempfile.mkdtemp()
    with open(os.path.join(backup, "training_metadata.json"), "w") as f:
        json.dump({"epoch": 2, "batch": 4}, f)
    model.fit(seq, epochs=3, shuffle=False, verbose=0, callbacks=[BackupAndResume(backup, seq, save_freq=100)])
    seq.close()
    print(json.dumps({"backend": keras.backend.backend(), "epoch": seq.epoch, "served": Recording.served}))


if __name__ == "__main__":
    if sys.argv[2].startswith("fail-"):
        fail(sys.argv[1], sys.argv[2][len("fail-") :])
    else:
        main(*sys.argv[1:])
