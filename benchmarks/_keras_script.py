"""A training script as users write one, for bench_start.py: Keras imported at the top, work under a guard.

    python benchmarks/_keras_script.py DATA START_METHOD {module,script}

Builds `MixupSequence(DATA, batch_size=64, image_size=(224, 224), workers=2,
use_multiprocessing=True, start_method=START_METHOD)` with the benchmarks'
Albumentations chain, either as is (`module`: defined in a module) or
wrapped in a class defined in this script (`script`: the workers must
re-import the script to unpickle it). Times `seq[0]` (starting the workers
and the first batch), waits for the prefetch, and prints one JSON line: the
seconds, and each worker's RSS and the part of it that is batch slots, in MB.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402, F401  (the point: the script imports Keras at the top)
from _measure import proc_status  # noqa: E402
from _paths import albumentations_chain  # noqa: E402

from mixup_sequence import MixupSequence  # noqa: E402


class ScriptChain:
    """The same chain, from a class that lives in this script."""

    def __init__(self, chain):
        self.chain = chain

    def set_random_state(self, *args):
        self.chain.set_random_state(*args)

    def __call__(self, **kwargs):
        return self.chain(**kwargs)


def main(data: str, start_method: str, where: str) -> None:
    chain = albumentations_chain()
    seq = MixupSequence(
        data,
        batch_size=64,
        image_size=(224, 224),
        mixup_alpha=0.2,
        seed=0,
        augment=chain if where == "module" else ScriptChain(chain),
        workers=2,
        use_multiprocessing=True,
        start_method=start_method,
    )
    start = time.perf_counter()
    seq[0]
    first_batch_s = time.perf_counter() - start
    seq._pool.wait_idle()  # the prefetched batches too: each worker has decoded a few
    status = [proc_status(p.pid) for p in seq._pool._procs]
    print(
        json.dumps(
            {
                "first_batch_s": first_batch_s,
                "rss_mb": [s.get("VmRSS", 0) / 1024 for s in status],
                # The batch slots each worker has written so far are shared memory mapped in its RSS too.
                "slots_mb": [s.get("RssShmem", 0) / 1024 for s in status],
            }
        ),
        flush=True,
    )
    seq.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
