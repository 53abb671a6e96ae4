"""Reads batches of 64 at 224x224 through worker processes; started by test_shared_memory.py.

    python shm_child.py DATA START_METHOD WORKERS KINDS

KINDS is `mixup_sequence._shm.KINDS`, comma-separated (e.g. "file" leaves
memfd out). Prints one JSON line: the worker pids, how many batches came
back and whether each equals the serial one, or the error raised (and
how many batches and worker processes there were before it).
"""

import json
import multiprocessing
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402

from mixup_sequence import WorkerError, _shm, index_directory  # noqa: E402
from mixup_sequence.loader import BatchLoader  # noqa: E402
from mixup_sequence.options import LoaderOptions  # noqa: E402
from mixup_sequence.workers import ProcessPool  # noqa: E402


def main(data, start_method, workers, kinds):
    _shm.KINDS = tuple(kinds.split(","))
    loader = BatchLoader(index_directory(data), LoaderOptions(batch_size=64, image_size=(224, 224)), 5)
    pool = ProcessPool(loader, workers, 2 * workers, start_method)
    report = {"batches": 0, "identical": True, "pids": []}
    try:
        for epoch in range(2):
            for i in range(len(loader)):
                x, y = pool.get(epoch, i)
                report["pids"] = sorted({*report["pids"], *(p.pid for p in pool._procs)})
                rx, ry = loader.load_batch(epoch, i)
                report["identical"] &= bool(np.array_equal(x, rx) and np.array_equal(y, ry))
                report["batches"] += 1
                report["named_files"] = [f for f in os.listdir("/dev/shm") if f.startswith("mixup_sequence")]
    except WorkerError as e:
        report["error"] = str(e)
        report["children"] = [p.pid for p in multiprocessing.active_children()]
    pool.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
