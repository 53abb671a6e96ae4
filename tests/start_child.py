"""A training script as users write one: Keras imported at the top, the work under a `__main__` guard.

    python start_child.py DATA OUT_DIR

Started by test_worker_start.py. For forkserver and spawn, reads every
batch of two epochs through 2 worker processes whose `augment` comes from a
module (`start_probe.ModuleProbe`, which records the modules each process
holds) and compares each with the serial one; then does the same with an
`augment` defined in this script, with 1 spawned worker. Prints one JSON line.
"""

import json
import logging
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402, F401  (the point: the script imports Keras at the top)
import numpy as np  # noqa: E402
from start_probe import ModuleProbe  # noqa: E402

from mixup_sequence import MixupSequence  # noqa: E402


def flip(image):
    """An augment defined in the script itself."""
    return np.ascontiguousarray(image[:, ::-1])


def read_all(seq):
    identical = True
    for epoch in range(2):
        seq.set_epoch(epoch)
        for i in range(len(seq)):
            x, y = seq[i]
            rx, ry = seq._loader.load_batch(epoch, i)
            identical &= bool(np.array_equal(x, rx) and np.array_equal(y, ry))
    return identical


def main(data, out):
    messages = []
    collect = logging.Handler()
    collect.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("mixup_sequence").addHandler(collect)
    options = {"batch_size": 4, "image_size": (16, 16), "seed": 5, "use_multiprocessing": True}
    report = {}
    for method in ("forkserver", "spawn"):
        folder = os.path.join(out, method)
        os.makedirs(folder)
        seq = MixupSequence(data, augment=ModuleProbe(folder), workers=2, start_method=method, **options)
        identical = read_all(seq)
        pids = [p.pid for p in seq._pool._procs]
        seq.close()
        with open(os.path.join(folder, f"{os.getpid()}.json")) as f:
            report["parent_modules"] = json.load(f)  # from the serial batches: shows the probe sees them
        modules = {}
        for pid in pids:
            with open(os.path.join(folder, f"{pid}.json")) as f:
                modules[pid] = json.load(f)
        report[method] = {"identical": identical, "modules": modules}
    report["warnings_so_far"] = list(messages)
    seq = MixupSequence(data, augment=flip, workers=1, start_method="spawn", **options)
    report["script_augment"] = {"identical": read_all(seq), "messages": [m for m in messages if "`__main__." in m]}
    seq.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
