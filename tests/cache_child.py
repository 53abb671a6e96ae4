"""Fills an image cache while loading batches, slowly, until it is killed; started by test_cache.py.

    python cache_child.py DATA CACHE

Loads epoch 0 of DATA with 2 forked worker processes that prefetch (and so
write records) ahead, printing each batch index as it arrives and pausing
between batches as a training step would.
"""

import sys
import time

from mixup_sequence import index_directory
from mixup_sequence.cache import open_cache
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.workers import ProcessPool

OPTIONS = LoaderOptions(batch_size=4, image_size=(40, 40))
MIX = MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0)
SEED = 5


def main(data: str, cache_dir: str) -> None:
    index = index_directory(data)
    loader = BatchLoader(index, OPTIONS, SEED, mix=MIX, cache=open_cache(cache_dir, OPTIONS, index))
    pool = ProcessPool(loader, 2, 4, "fork")
    for i in range(len(loader)):
        pool.get(0, i)
        print(i, flush=True)
        time.sleep(0.2)


if __name__ == "__main__":
    main(*sys.argv[1:3])
