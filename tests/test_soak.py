"""A long run: 30 epochs of fit with 2 worker processes, then threads, watching for leaks.

Marked `soak`: CI runs it; `make test-fast` (and `-m "not soak"`) skips it.
"""

import os

import pytest
from conftest import alive

keras = pytest.importorskip("keras")

from mixup_sequence import MixupSequence  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow, pytest.mark.soak]

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data_samples", "digits")


def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


class Watch(keras.callbacks.Callback):
    def __init__(self, seq):
        super().__init__()
        self.seq = seq
        self.rss, self.fds, self.workers = [], [], []

    def on_epoch_end(self, epoch, logs=None):
        self.seq._pool.wait_idle()  # worker threads open image files in this process while they work
        self.rss.append(rss_kb())
        self.fds.append(len(os.listdir("/proc/self/fd")))
        self.workers.append(tuple(self.seq._pool._procs))


@pytest.mark.parametrize("use_multiprocessing", [True, False], ids=["processes", "threads"])
def test_thirty_epochs_stay_flat(use_multiprocessing):
    import albumentations as A

    seq = MixupSequence(
        DATA,
        batch_size=32,
        image_size=(32, 32),
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        augment=A.Compose([A.Affine(rotate=(-10, 10), p=0.8), A.RandomBrightnessContrast(p=0.5)]),
        seed=3,
        workers=2,
        use_multiprocessing=use_multiprocessing,
    )
    assert seq.workers == 1  # Keras sees a serial dataset: the workers are the sequence's own
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy")
    watch = Watch(seq)
    model.fit(seq, epochs=30, shuffle=False, verbose=0, callbacks=[watch])
    assert seq.epoch == 30
    baseline = watch.rss[1]  # after epoch 2: warm
    growth = max(watch.rss[1:]) / baseline - 1
    print(f"parent RSS after epochs 2..30: {watch.rss[1]}..{watch.rss[-1]} kB, max growth {100 * growth:.2f}%")
    assert growth <= 0.05, f"parent RSS grew {100 * growth:.1f}% after epoch 2: {watch.rss}"
    assert watch.fds[-1] <= watch.fds[1], f"open file descriptors grew: {watch.fds}"
    assert len(set(watch.workers)) == 1  # the same two workers served all 30 epochs
    workers = watch.workers[0]
    seq.close()
    if use_multiprocessing:
        assert not any(alive(p.pid) for p in workers)
    else:
        assert not any(t.is_alive() for t in workers)
