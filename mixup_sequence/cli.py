"""The `mixup-sequence` command line: look at a folder and its mixed batches.

mixup-sequence preview DIR --out grid.png [--mixup-alpha A --cutmix-alpha A ...]
mixup-sequence inspect DIR [--validation-split 0.2] [--image-size H W]
mixup-sequence cache DIR --cache CACHE_DIR --image-size H W
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np

from mixup_sequence import _rng
from mixup_sequence.cache import disk_bytes, fill_cache, open_cache, record_bytes
from mixup_sequence.decode import COLOR_MODES, INTERPOLATIONS
from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.preview import save_batch_grid
from mixup_sequence.split import validation_mask
from mixup_sequence.verify import Progress, check_files, iter_checks
from mixup_sequence.workers import ProcessPool, ThreadPool


def _preview(args: argparse.Namespace) -> int:
    options = LoaderOptions(
        batch_size=args.batch_size,
        image_size=(args.image_size[0], args.image_size[1]),
        color_mode=args.color_mode,
    )
    mix = MixConfig(
        mixup_alpha=args.mixup_alpha,
        cutmix_alpha=args.cutmix_alpha,
        switch_prob=args.switch_prob,
        label_smoothing=0.0,
    )
    seed = _rng.draw_seed() if args.seed is None else args.seed
    loader = BatchLoader(index_directory(args.directory), options, seed, mix=mix)
    x, y = loader.load_batch(args.epoch, args.batch)
    path = save_batch_grid(args.out, x, y, loader.index.class_names, columns=args.columns)
    print(f"wrote {path}: batch {args.batch} of epoch {args.epoch}, seed {seed}, {len(x)} images")
    return 0


def _print_bad(bad: dict[str, str]) -> None:
    print(f"bad files: {len(bad)}")
    for path, reason in bad.items():
        print(f"  {path}: {reason}")


def _inspect(args: argparse.Namespace) -> int:
    index = index_directory(args.directory, follow_links=args.follow_links)
    print(f"{index.directory}: {index.samples} images in {index.num_classes} classes")
    counts = np.bincount(index.labels, minlength=index.num_classes)
    mask = validation_mask(index, args.validation_split) if args.validation_split else None
    width = max(len(n) for n in index.class_names)
    for label, name in enumerate(index.class_names):
        line = f"  {name:<{width}}  {counts[label]:>7}"
        if mask is not None:
            line += f"  (validation {int(mask[index.labels == label].sum())})"
        print(line)
    formats = collections.Counter(os.path.splitext(p)[1].lower() for p in index.relative_paths())
    print("formats: " + ", ".join(f"{ext} {n}" for ext, n in formats.most_common()))
    if args.image_size is not None:
        _print_cache_size(index.samples, (args.image_size[0], args.image_size[1]), args.color_mode)
    if args.no_verify:
        return 0
    checks = list(iter_checks(index, progress=index.samples >= args.progress_from))
    sizes = np.array([c.size for c in checks if c.size is not None]).reshape(-1, 2)
    if len(sizes):
        for axis, name in ((0, "width"), (1, "height")):
            q = np.percentile(sizes[:, axis], [0, 5, 50, 95, 100]).astype(int)
            print(f"{name}: min {q[0]}, 5% {q[1]}, median {q[2]}, 95% {q[3]}, max {q[4]}")
    bad = {c.path: c.error for c in checks if c.error is not None}
    _print_bad(bad)
    return 1 if bad else 0


def _print_cache_size(samples: int, image_size: tuple[int, int], color_mode: str) -> None:
    """What a cache of `samples` images at `image_size` would take (`mixup-sequence cache`, `cache=`)."""
    h, w = image_size
    each = record_bytes(image_size, color_mode)
    total = disk_bytes(samples, image_size, color_mode)
    print(
        f"cache at {h}x{w} {color_mode}: {samples} records of {each:,} bytes = {samples * each / 1e6:,.1f} MB "
        f"({total / 1e6:,.1f} MB on disk in 4 KiB blocks)"
    )


def _cache(args: argparse.Namespace) -> int:
    index = index_directory(args.directory, follow_links=args.follow_links)
    size = (args.image_size[0], args.image_size[1])
    options = LoaderOptions(image_size=size, color_mode=args.color_mode, interpolation=args.interpolation)
    summary = fill_cache(open_cache(args.cache, options, index), index, workers=args.workers, progress=not args.quiet)
    print(
        f"{summary.path}: {summary.records} images, {summary.written} decoded now, {summary.present} already "
        f"cached, {summary.disk_bytes / 1e6:,.1f} MB on disk, {summary.seconds:.1f} s"
    )
    _print_bad(summary.bad)
    return 1 if summary.bad else 0


def _verify(args: argparse.Namespace) -> int:
    index = index_directory(args.directory, follow_links=args.follow_links)
    bad = check_files(index, progress=not args.quiet)
    print(f"{index.directory}: {index.samples} images checked")
    _print_bad(bad)
    return 1 if bad else 0


def _bench(args: argparse.Namespace) -> int:
    options = LoaderOptions(batch_size=args.batch_size, image_size=(args.image_size[0], args.image_size[1]))
    mix = MixConfig(mixup_alpha=args.mixup_alpha, cutmix_alpha=args.cutmix_alpha)
    index = index_directory(args.directory)
    cache = open_cache(args.cache, options, index) if args.cache else None
    loader = BatchLoader(index, options, 0, mix=mix, cache=cache)
    batches = min(args.batches, len(loader))
    images = sum(len(loader.batch_samples(0, i)) for i in range(batches))
    print(f"{loader.index.samples} images; timing {batches} batches of {args.batch_size} at {options.image_size}")
    results = {}
    for mode in ("serial", "threads", "processes"):
        bar = Progress(batches, f"{mode:>9}", enabled=not args.quiet, unit="batches")
        start = time.perf_counter()
        if mode == "serial":
            for i in range(batches):
                loader.load_batch(0, i)
                bar.update()
        else:
            pool_class = ThreadPool if mode == "threads" else ProcessPool
            workers = pool_class(loader, args.workers, 2 * args.workers)
            try:
                workers.get(1, 0)  # start the workers outside the timing
                workers.wait_idle()
                start = time.perf_counter()
                for i in range(batches):
                    workers.get(0, i)
                    bar.update()
            finally:
                workers.close()
        results[mode] = images / (time.perf_counter() - start)
    for mode, rate in results.items():
        print(f"{mode:>9}: {rate:8.0f} images/s ({rate / results['serial']:.2f}x serial)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixup-sequence", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    preview = sub.add_parser("preview", help="save a captioned grid of one mixed batch as a PNG")
    preview.add_argument("directory", help="folder with one sub-folder per class")
    preview.add_argument("--out", default="preview.png", help="PNG to write (default: preview.png)")
    preview.add_argument("--image-size", type=int, nargs=2, default=(128, 128), metavar=("HEIGHT", "WIDTH"))
    preview.add_argument("--batch-size", type=int, default=16)
    preview.add_argument("--columns", type=int, default=8)
    preview.add_argument("--color-mode", default="rgb", choices=("rgb", "grayscale"))
    preview.add_argument("--mixup-alpha", type=float, default=0.4)
    preview.add_argument("--cutmix-alpha", type=float, default=1.0)
    preview.add_argument("--switch-prob", type=float, default=0.5)
    preview.add_argument("--seed", type=int, default=None, help="default: a fresh seed (printed)")
    preview.add_argument("--epoch", type=int, default=0)
    preview.add_argument("--batch", type=int, default=0, help="batch index within the epoch")
    preview.set_defaults(run=_preview)

    inspect = sub.add_parser(
        "inspect", help="print classes, counts, formats, image sizes, the split and bad files (exit 1 if any)"
    )
    inspect.add_argument("directory", help="folder with one sub-folder per class")
    inspect.add_argument("--validation-split", type=float, default=None)
    inspect.add_argument("--follow-links", action="store_true")
    inspect.add_argument("--no-verify", action="store_true", help="skip decoding (no sizes, no bad-file list)")
    inspect.add_argument("--progress-from", type=int, default=500, help="show a progress line from this many files")
    inspect.add_argument(
        "--image-size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"), help="print a cache's size"
    )
    inspect.add_argument("--color-mode", default="rgb", choices=tuple(COLOR_MODES), help="for the cache's size")
    inspect.set_defaults(run=_inspect)

    bench = sub.add_parser("bench", help="images/s on your data: serial, threads and processes")
    bench.add_argument("directory", help="folder with one sub-folder per class")
    bench.add_argument("--image-size", type=int, nargs=2, default=(224, 224), metavar=("HEIGHT", "WIDTH"))
    bench.add_argument("--batch-size", type=int, default=64)
    bench.add_argument("--batches", type=int, default=20, help="batches timed per mode")
    bench.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="threads or processes")
    bench.add_argument("--mixup-alpha", type=float, default=0.2)
    bench.add_argument("--cutmix-alpha", type=float, default=0.0)
    bench.add_argument("--quiet", action="store_true", help="no progress lines")
    bench.add_argument("--cache", default=None, metavar="CACHE_DIR", help="read images from this image cache")
    bench.set_defaults(run=_bench)

    verify = sub.add_parser("verify", help="decode every image once and list the bad ones (exit 1 if any)")
    verify.add_argument("directory", help="folder with one sub-folder per class")
    verify.add_argument("--follow-links", action="store_true")
    verify.add_argument("--quiet", action="store_true", help="no progress line")
    verify.set_defaults(run=_verify)
    _add_cache_command(sub)
    return parser


def _add_cache_command(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser(
        "cache", help="decode every image once into an image cache for training (exit 1 if any file is bad)"
    )
    cache.add_argument("directory", help="folder with one sub-folder per class")
    cache.add_argument("--cache", required=True, metavar="CACHE_DIR", help="the cache directory (`cache=` argument)")
    cache.add_argument("--image-size", type=int, nargs=2, required=True, metavar=("HEIGHT", "WIDTH"))
    cache.add_argument("--color-mode", default="rgb", choices=tuple(COLOR_MODES))
    cache.add_argument("--interpolation", default="area", choices=tuple(INTERPOLATIONS))
    cache.add_argument("--workers", type=int, default=None, help="threads (default: one per core)")
    cache.add_argument("--follow-links", action="store_true")
    cache.add_argument("--quiet", action="store_true", help="no progress line")
    cache.set_defaults(run=_cache)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, OSError) as e:
        print(f"mixup-sequence {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
