"""Failing workers and interrupted runs: a clear error, promptly, and nothing left behind."""

import gc
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import alive

keras = pytest.importorskip("keras")

from mixup_sequence import MixupSequence  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data_samples", "digits")


def our_shm_files():
    return [f for f in os.listdir("/dev/shm") if f.startswith("mixup_sequence")]


def tiny_model():
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    return model


def test_killed_worker_fails_fit_with_a_clear_error():
    seq = MixupSequence(DATA, batch_size=16, image_size=(32, 32), seed=1, workers=2, use_multiprocessing=True)

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.pids = [p.pid for p in seq._pool._procs]
                os.kill(self.pids[0], signal.SIGKILL)

    kill = Kill()
    start = time.monotonic()
    with pytest.raises(Exception, match="died with signal SIGKILL") as info:
        tiny_model().fit(seq, epochs=3, shuffle=False, verbose=0, callbacks=[kill])
    assert time.monotonic() - start < 120  # a hang would never get here
    assert "WorkerError" in str(info.value) or type(info.value).__name__ == "WorkerError"
    time.sleep(1)
    assert not any(alive(pid) for pid in kill.pids)
    assert not our_shm_files()


def test_augment_exception_names_the_file_and_keeps_the_traceback():
    def broken(image):
        raise ZeroDivisionError("the user's augmentation failed")

    seq = MixupSequence(
        DATA, batch_size=16, image_size=(32, 32), seed=1, augment=broken, workers=2, use_multiprocessing=True
    )
    with pytest.raises(Exception) as info:
        tiny_model().fit(seq, epochs=1, shuffle=False, verbose=0)
    # TF raises it as is (from its signature probe) or wrapped in its own error with the text.
    text = "\n".join([type(info.value).__name__, str(info.value), *getattr(info.value, "__notes__", [])])
    assert "ZeroDivisionError" in text and "the user's augmentation failed" in text
    assert "digit_" in text and "while loading" in text  # the file, from the note
    assert "in broken" in text  # the original traceback, from the worker
    seq.close()


def test_normal_fit_then_close_leaves_nothing():
    seq = MixupSequence(DATA, batch_size=32, image_size=(32, 32), seed=1, workers=2, use_multiprocessing=True)
    tiny_model().fit(seq, epochs=2, shuffle=False, verbose=0)
    pids = [p.pid for p in seq._pool._procs]
    assert all(alive(pid) for pid in pids)  # kept across epochs
    seq.close()
    assert not any(alive(pid) for pid in pids)
    other = MixupSequence(DATA, batch_size=32, image_size=(32, 32), seed=1, workers=2, use_multiprocessing=True)
    other[0]
    pids = [p.pid for p in other._pool._procs]
    del other
    gc.collect()  # dropping the sequence stops its workers too
    assert not any(alive(pid) for pid in pids)
    assert not our_shm_files()


def _start_child(tmp_path, epochs):
    pids_file = str(tmp_path / "pids")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fit_child.py"), DATA, pids_file, str(epochs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not os.path.exists(pids_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"child did not start training: {proc.communicate()}")
        time.sleep(0.1)
    with open(pids_file) as f:
        parent, *workers = map(int, f.read().split())
    return proc, workers


def _wait_gone(pids, seconds=10):
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def test_ctrl_c_returns_promptly_and_leaves_nothing(tmp_path):
    proc, workers = _start_child(tmp_path, epochs=1000)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"fit did not return after Ctrl-C: {err[-2000:]}")
    assert "KeyboardInterrupt" in err
    assert _wait_gone(workers)
    assert not our_shm_files()


def test_parent_killed_leaves_no_orphan_workers(tmp_path):
    proc, workers = _start_child(tmp_path, epochs=1000)
    proc.kill()
    proc.communicate()
    assert _wait_gone(workers)  # they notice the parent is gone within a second
    assert not our_shm_files()


def test_normal_exit_leaves_nothing(tmp_path):
    proc, workers = _start_child(tmp_path, epochs=3)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "fit finished" in out
    assert _wait_gone(workers)
    assert not our_shm_files()


@pytest.mark.parametrize("workers", [{}, {"workers": 2}, {"workers": 2, "use_multiprocessing": True}])
def test_bad_file_mid_fit_names_file_class_and_batch(tmp_path, workers):
    import shutil

    shutil.copytree(DATA, tmp_path / "digits")
    seq = MixupSequence(tmp_path / "digits", batch_size=16, image_size=(32, 32), seed=1, shuffle=False, **workers)
    victim = seq.loader.index.path(16 * 5 + 3)  # in batch 5, after TensorFlow's signature probe
    with open(victim, "wb") as f:
        f.write(b"junk")
    with pytest.raises(Exception) as info:
        tiny_model().fit(seq, epochs=1, shuffle=False, verbose=0)
    # TensorFlow wraps it in its own error type; the text keeps ours, with the note.
    text = "\n".join([type(info.value).__name__, str(info.value), *getattr(info.value, "__notes__", [])])
    assert "ImageDecodeError" in text and os.path.basename(victim) in text
    assert "class '2'" in text and "batch 5 of epoch 0" in text
    seq.close()
