"""One host of a two-process JAX run of `keras.distribution.DataParallel`; started by test_multihost_jax.py.

    python multihost_jax_child.py DATA WORKDIR STEP [PORT PROCESS_ID [KILL]]

STEP is "full" (2 epochs; fit is first tried with Keras' default
`auto_shard_dataset=True`, which refuses a `PyDataset`), "mid" (the same 2
epochs with `BackupAndResume` saving every 3 batches; KILL, "EPOCH.BATCH", ends
the process with `os._exit(3)` once that batch is trained, as a kill would,
host 0 last: see `Kill`) or "reference" (one process, no distribution:
`train_on_batch` on the two shards' batches concatenated, host 0's first). The
two hosts find each other through a coordinator on 127.0.0.1:PORT and reduce
over Gloo, on one CPU device each.

Each host records, inside the compiled train step, a digest of the part of the
batch on its own device (`jax.debug.callback(..., partitioned=True)`); host 0
also records the two halves of the global batch. Writes WORKDIR/STEP-ID.json
(ID is PROCESS_ID, or "reference") with those, the digests of this shard's
batches as the sequence makes them, the weights' digest after each epoch, and
the final weights in WORKDIR/STEP-ID.npz.
"""

import hashlib
import json
import os
import sys
import time
import warnings

os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402

# Cross-process reductions on CPU need a collectives library; Gloo ships with jaxlib.
jax.config.update("jax_cpu_collectives_implementation", "gloo")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mixup_sequence import BackupAndResume, MixupSequence  # noqa: E402

EPOCHS = 2
HOSTS = 2


def digest(*arrays):
    return hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()[:16]


def weights_digest(model):
    return digest(*model.get_weights())


def make_sequence(data, shard_index, num_shards, **kwargs):
    # 9 classes, training subset: 315 samples; 157 a shard, in 10 batches (the last of 13).
    return MixupSequence(
        data,
        batch_size=16,
        image_size=(16, 16),
        class_names=[str(c) for c in range(9)],
        validation_split=0.125,
        subset="training",
        mixup_alpha=0.4,
        cutmix_alpha=1.0,
        seed=7,
        shard_index=shard_index,
        num_shards=num_shards,
        **kwargs,
    )


class Recording(keras.Model):
    """Records digests of the batch each train step receives, from inside the compiled step."""

    local: list = []  # this device's part of every batch
    halves: list = []  # host 0: the global batch, split into the two hosts' parts

    def train_step(self, state, data):
        x, y = data[0], data[1]
        jax.debug.callback(lambda a, b: Recording.local.append(digest(a, b)), x, y, partitioned=True)
        if jax.process_count() > 1:
            # Unpartitioned: runs once, on device 0, with the whole global batch.
            def halves(a, b):
                n = len(a) // HOSTS
                Recording.halves.append([digest(a[k * n : (k + 1) * n], b[k * n : (k + 1) * n]) for k in range(HOSTS)])

            jax.debug.callback(halves, x, y)
        return super().train_step(state, data)


def build_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(9, activation="softmax")(keras.layers.GlobalAveragePooling2D()(hidden))
    model = Recording(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    return model


class WeightDigest(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.digests = []

    def on_epoch_end(self, epoch, logs=None):
        self.digests.append(weights_digest(self.model))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


class Kill(keras.callbacks.Callback):
    """Ends the process after batch EPOCH.BATCH; host 0 (the coordinator) last.

    When the coordinator's process ends, JAX aborts the other hosts' processes
    within moments; host 0 therefore waits for the others to be gone first.
    """

    def __init__(self, seq, spec, pid_files):
        super().__init__()
        self.seq = seq
        self.at = tuple(int(v) for v in spec.split("."))
        self.pid_files = pid_files

    def on_train_batch_end(self, batch, logs=None):
        if (self.seq.epoch, batch) != self.at:
            return
        if jax.process_index() == 0:
            deadline = time.monotonic() + 60
            for path in self.pid_files:
                with open(path) as f:
                    pid = int(f.read())
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        os._exit(3)


def expected_batches(seq):
    """The digests of every batch of the sequence's shard, epoch by epoch, made outside fit."""
    expected = []
    for epoch in range(EPOCHS):
        seq.set_epoch(epoch)
        expected.append([digest(*seq[i]) for i in range(len(seq))])
    return expected


def host(data, workdir, step, port, process_id, kill=None):
    warnings.filterwarnings("ignore", message=".*os.fork\\(\\) was called.*")  # JAX's; see README
    # Before initialize, which otherwise agrees on a random seed across hosts: the reference must start alike.
    keras.utils.set_random_seed(0)
    keras.distribution.initialize(f"127.0.0.1:{port}", num_processes=HOSTS, process_id=int(process_id))
    pid_file = os.path.join(workdir, f"{step}-{process_id}.pid")
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    distribution = keras.distribution.DataParallel()
    keras.distribution.set_distribution(distribution)
    seq = make_sequence(
        data,
        shard_index=jax.process_index(),
        num_shards=jax.process_count(),
        workers=2,
        use_multiprocessing=True,
    )
    model = build_model()
    weights = WeightDigest()
    result = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "worker_mode": seq.worker_mode,
        "batches": len(seq),
    }
    if step == "full":
        try:
            model.fit(seq, epochs=EPOCHS, shuffle=False, verbose=0)
        except ValueError as e:
            result["auto_shard_error"] = str(e)
        distribution.auto_shard_dataset = False  # the sequence shards itself
        model.fit(seq, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[weights])
    else:
        distribution.auto_shard_dataset = False
        backup = BackupAndResume(os.path.join(workdir, f"backup-{process_id}"), seq, save_freq=3)
        others = [os.path.join(workdir, f"{step}-{k}.pid") for k in range(1, HOSTS)]
        callbacks = [backup, weights] + ([Kill(seq, kill, others)] if kill else [])
        model.fit(seq, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=callbacks)
    jax.effects_barrier()
    result.update(
        epoch=seq.epoch,
        trained=Recording.local,
        halves=Recording.halves,
        weights=weights.digests,
        expected=expected_batches(seq),
        samples=[[seq.batch_samples(i, e).tolist() for i in range(len(seq))] for e in range(EPOCHS)],
    )
    seq.close()
    return model, result


def reference(data):
    """One process, no distribution: the global batches the two hosts should have trained on."""
    shards = [make_sequence(data, shard_index=k, num_shards=HOSTS) for k in range(HOSTS)]
    model = build_model()
    digests = []
    for epoch in range(EPOCHS):
        for seq in shards:
            seq.set_epoch(epoch)
        for i in range(len(shards[0])):
            parts = [seq[i] for seq in shards]
            model.train_on_batch(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        digests.append(weights_digest(model))
    return model, {"weights": digests}


def main(data, workdir, step, port=None, process_id=None, kill=None):
    if step == "reference":
        name, (model, result) = "reference", reference(data)
    else:
        name, (model, result) = process_id, host(data, workdir, step, port, process_id, kill)
    np.savez(os.path.join(workdir, f"{step}-{name}.npz"), *model.get_weights())
    with open(os.path.join(workdir, f"{step}-{name}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
