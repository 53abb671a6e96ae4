"""Indexing 100,000 files: `mixup_sequence.index_directory` against Keras' own `index_directory`.

    python benchmarks/bench_index.py                 # make bench-index
    python benchmarks/bench_index.py --files 20000   # smaller tree

Builds a tree of empty, image-named files (`class_XX/img_XXXXXX.jpg`, 100
classes) in a temporary folder, walks it once untimed (so both indexers
find the directory entries cached), then times the two indexers
alternately, `--repeats` times each, and reports the medians. Each
indexer's memory is measured in a fresh Python process: the memory that
tracemalloc still sees allocated while the result is alive (what the index
keeps), tracemalloc's peak during the call, and the RSS growth. Finally it
builds a `MixupSequence` on the tree and reports `len(pickle.dumps(seq))`,
which is what every worker process receives under spawn/forkserver, next
to the pickled size of Keras' path list for the same tree. Prints a
Markdown table; writes nothing but the temporary tree (removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Keras' image_dataset_from_directory allow-list.
KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def make_tree(root: str, files: int, classes: int) -> float:
    """Creates `files` empty `.jpg` files spread over `classes` folders; returns seconds taken."""
    start = time.perf_counter()
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c:02d}"), exist_ok=True)
    for i in range(files):
        with open(os.path.join(root, f"class_{i % classes:02d}", f"img_{i:06d}.jpg"), "wb"):
            pass
    return time.perf_counter() - start


def index_ours(root: str):
    from mixup_sequence import index_directory

    return index_directory(root)


def index_keras(root: str):
    from keras.src.utils.dataset_utils import index_directory

    return index_directory(root, "inferred", KERAS_FORMATS, shuffle=False, verbose=False)


INDEXERS = {"mixup_sequence": index_ours, "keras": index_keras}


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_child(which: str, root: str) -> dict:
    """In a fresh process: the memory one indexer keeps and uses."""
    fn = INDEXERS[which]
    fn(root)  # imports, caches; the result is dropped
    rss_before = _rss_kb()
    tracemalloc.start()
    result = fn(root)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _rss_kb()
    count = result.samples if which == "mixup_sequence" else len(result[0])
    return {
        "kept_mb": kept / 2**20,
        "peak_mb": peak / 2**20,
        "rss_growth_mb": (rss_after - rss_before) / 1024,
        "n": count,
    }


def measure_memory(which: str, root: str) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memory-child", which, root],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def sequence_sizes(root: str) -> dict:
    import albumentations as A

    from mixup_sequence import MixupSequence

    start = time.perf_counter()
    chain = A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-10, 10), p=0.5), A.RandomBrightnessContrast(p=0.5)])
    seq = MixupSequence(
        root,
        batch_size=64,
        image_size=(224, 224),
        mixup_alpha=0.2,
        augment=chain,
        seed=0,
        workers=2,
        use_multiprocessing=True,
    )
    built = time.perf_counter() - start
    sizes = {"construct_s": built, "seq_pickle_mb": len(pickle.dumps(seq)) / 2**20}
    plain = MixupSequence(root, batch_size=64, image_size=(224, 224), seed=0)
    sizes["seq_no_augment_pickle_mb"] = len(pickle.dumps(plain)) / 2**20
    sizes["chain_pickle_kb"] = len(pickle.dumps(chain)) / 1024
    close = getattr(seq, "close", None)
    if callable(close):
        close()
    return sizes


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--memory-child"]:
        print(json.dumps(memory_child(argv[1], argv[2])))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tmp", help="parent folder of the temporary tree (default: the system's)")
    args = p.parse_args(argv)

    root = tempfile.mkdtemp(prefix="bench_index_", dir=args.tmp)
    try:
        made = make_tree(root, args.files, args.classes)
        print(f"made {args.files} empty files in {args.classes} folders under {root} in {made:.1f} s", flush=True)
        for fn in INDEXERS.values():  # warm: imports and the directory-entry cache
            fn(root)
        times: dict[str, list[float]] = {name: [] for name in INDEXERS}
        for _ in range(args.repeats):
            for name, fn in INDEXERS.items():
                start = time.perf_counter()
                fn(root)
                times[name].append(time.perf_counter() - start)
        ours, (keras_paths, keras_labels, _) = index_ours(root), index_keras(root)
        same = sorted(map(str, ours.filepaths)) == sorted(keras_paths) and sorted(ours.labels.tolist()) == sorted(
            keras_labels.tolist()
        )
        memory = {name: measure_memory(name, root) for name in INDEXERS}
        sizes = sequence_sizes(root)
        keras_list_mb = len(pickle.dumps(keras_paths)) / 2**20
        ours_index_mb = len(pickle.dumps(ours)) / 2**20
    finally:
        shutil.rmtree(root, ignore_errors=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    print()
    print(f"{args.files} files, {args.classes} classes; median of {args.repeats} warm runs each, alternated")
    print(f"same files and labels from both: {same}")
    print()
    print("| indexer | median s | min s | kept MB (tracemalloc) | peak MB (tracemalloc) | RSS growth MB | pickled MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, pickled in (("mixup_sequence", ours_index_mb), ("keras", keras_list_mb)):
        m = memory[name]
        print(
            f"| {name}.index_directory | {med[name]:.3f} | {min(times[name]):.3f} | {m['kept_mb']:.1f} "
            f"| {m['peak_mb']:.1f} | {m['rss_growth_mb']:.1f} | {pickled:.2f} |"
        )
    print()
    print(f"time ratio mixup_sequence / keras: {med['mixup_sequence'] / med['keras']:.2f} (target: <= 1)")
    print(
        f"MixupSequence on the tree: built in {sizes['construct_s']:.2f} s; "
        f"len(pickle.dumps(seq)) = {sizes['seq_pickle_mb']:.2f} MB "
        f"({sizes['seq_no_augment_pickle_mb']:.2f} MB without augment; the Albumentations chain alone "
        f"{sizes['chain_pickle_kb']:.1f} kB); Keras' path list pickles to {keras_list_mb:.2f} MB"
    )


if __name__ == "__main__":
    main()
