"""The `mixup-sequence` command line: look at a folder and its mixed batches.

mixup-sequence preview DIR --out grid.png [--augment aug.yaml --cutmix-alpha 1.0 ...]
mixup-sequence inspect DIR [--validation-split 0.2]
mixup-sequence verify DIR
mixup-sequence bench DIR [--workers 4 --min-epochs 3 --min-seconds 3] [--cache CACHE_DIR]
mixup-sequence cache DIR --cache CACHE_DIR --image-size H W

Every loading and mixing option defaults to the library's own default, read
from the fields of `LoaderOptions` and `MixConfig`.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import importlib
import os
import sys
import time
from typing import Any, TextIO

import numpy as np

from mixup_sequence import __version__, _rng, mixers, throughput
from mixup_sequence.cache import disk_bytes, fill_cache, open_cache, record_bytes
from mixup_sequence.decode import COLOR_MODES, INTERPOLATIONS
from mixup_sequence.index import display_path, index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MIX_MODES, MixConfig
from mixup_sequence.options import AUGMENT_INPUTS, DTYPES, PAIRINGS, LoaderOptions
from mixup_sequence.preview import save_batch_grid
from mixup_sequence.source import Source
from mixup_sequence.source_paths import check_files as check_listed_files
from mixup_sequence.source_paths import paths_source
from mixup_sequence.split import validation_mask
from mixup_sequence.verify import check_files, iter_checks

_AUGMENT_FILES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def _load_augment(spec: str) -> Any:
    """Returns the augmentation named by `--augment`: a file saved with `A.save`, or `module:attribute`."""
    data_format = _AUGMENT_FILES.get(os.path.splitext(spec)[1].lower())
    if data_format is not None:
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"`--augment` file not found. Received: --augment={spec}")
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
        import albumentations as A

        try:
            return A.load(spec, data_format=data_format)  # type: ignore[arg-type]
        except Exception as e:
            raise ValueError(
                f"`--augment` must be an Albumentations pipeline saved with "
                f"A.save(transform, path, data_format={data_format!r}). Received: --augment={spec} "
                f"({type(e).__name__}: {e})"
            ) from e
    if ":" not in spec:
        raise ValueError(
            f"`--augment` must be a file saved with A.save ({', '.join(_AUGMENT_FILES)}) or a "
            f"module:attribute path, e.g. my_project.augment:train_transform. Received: --augment={spec}"
        )
    return _import_attribute("--augment", spec)


def _import_attribute(option: str, spec: str) -> Any:
    """Returns the object named by `module:attribute`, the module found from the current directory too."""
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"`{option}` must be a module:attribute path, e.g. my_project.train:schedule. Received: {option}={spec}"
        )
    if os.getcwd() not in sys.path:  # as `python -m` would find it
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"`{option}` could not be loaded ({type(e).__name__}: {e}). Received: {option}={spec}") from e
    return value


def _loader_options(args: argparse.Namespace) -> LoaderOptions:
    return LoaderOptions(
        batch_size=args.batch_size,
        image_size=(args.image_size[0], args.image_size[1]),
        color_mode=args.color_mode,
        interpolation=args.interpolation,
        dtype=args.dtype,
        value_range=None if args.value_range is None else (args.value_range[0], args.value_range[1]),
        pairing=args.pairing,
        augment_input=args.augment_input,
    )


def _mix_config(args: argparse.Namespace) -> MixConfig:
    return MixConfig(
        mixup_alpha=args.mixup_alpha,
        cutmix_alpha=args.cutmix_alpha,
        switch_prob=args.switch_prob,
        mix_prob=args.mix_prob,
        label_smoothing=args.label_smoothing,
        mix_mode=args.mix_mode,
        mixer_probs=args.mixer_probs,
        resizemix_scale=tuple(args.resizemix_scale),
        fmix_alpha=args.fmix_alpha,
        fmix_decay_power=args.fmix_decay_power,
        mix_off_epoch=args.mix_off_epoch,
        mix_schedule=_import_attribute("--mix-schedule", args.mix_schedule) if args.mix_schedule else None,
    )


def _mixer_probs(text: str) -> dict[str, float]:
    """Parses `--mixer-probs`: `NAME=PROBABILITY` pairs separated by commas."""
    probs: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            probs[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise argparse.ArgumentTypeError(
                f"expected NAME=PROBABILITY pairs separated by commas, e.g. mixup=0.5,fmix=0.5; got {text!r}"
            )
    return probs


def _make_loader(args: argparse.Namespace, seed: int, max_images: int | None = None) -> tuple[BatchLoader, int]:
    """Returns the loader the arguments describe, and the number of images in the folder."""
    options, mix = _loader_options(args), _mix_config(args)  # checked before the disk is read
    augment = _load_augment(args.augment) if args.augment else None
    labels_file = getattr(args, "labels", None)
    index = _csv_source(labels_file, args) if labels_file else index_directory(args.directory)
    total = index.samples
    if max_images is not None and total > max_images:
        # Spread evenly over the index (sorted by class), so every class keeps its share.
        index = index.take(np.linspace(0, total - 1, max_images).round().astype(np.int64))
    cache = open_cache(args.cache, options, index) if getattr(args, "cache", None) else None
    return BatchLoader(index, options, seed, augment=augment, mix=mix, cache=cache), total


def _csv_source(path: str, args: argparse.Namespace) -> Source:
    """The paths source of a CSV file: `--x-col` holds paths relative to the directory, `--y-col` the labels.

    One `--y-col`: a class name per row. Several: 0/1 columns, multi-hot (the columns are the classes).
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = [args.x_col, *args.y_col]
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing:
        found = list(rows[0]) if rows else []
        raise ValueError(
            f"`--labels` must be a CSV file with a header naming the columns {columns}; missing {missing} "
            f"(found {found}). Received: --labels={path}"
        )
    paths = [row[args.x_col] for row in rows]
    if len(args.y_col) == 1:
        labels: Any = [row[args.y_col[0]] for row in rows]
        class_names = None
    else:
        try:
            labels = np.array([[int(row[c]) for c in args.y_col] for row in rows], dtype=np.int64)
        except ValueError as e:
            raise ValueError(f"Multi-hot `--y-col` columns must hold 0 or 1 ({e}). Received: --labels={path}") from e
        class_names = list(args.y_col)
    source = paths_source(paths, labels, class_names=class_names, directory=args.directory)
    check_listed_files(source, what=path)
    return source


def _preview(args: argparse.Namespace) -> int:
    seed = _rng.draw_seed() if args.seed is None else args.seed
    loader, _ = _make_loader(args, seed)
    x, y = loader.load_batch(args.epoch, args.batch)
    options = loader.options
    path = save_batch_grid(
        args.out, x, y, loader.index.class_names, value_range=options.value_range, columns=args.columns
    )
    low, high = options.value_range  # type: ignore[misc]  # LoaderOptions resolves None
    h, w = options.image_size
    print(f"wrote {path}: batch {args.batch} of epoch {args.epoch}, seed {seed}, {len(x)} images")
    print(f"images: {h}x{w} {options.dtype} in [{low:g}, {high:g}], {options.color_mode}, {options.interpolation}")
    mix = _mix_config(args).at_epoch(args.epoch)
    print(f"mixing in epoch {args.epoch}: {mix}, pairing={options.pairing!r}")
    methods = loader.sampler.plan(args.epoch, args.batch).params.method
    counts = np.bincount(methods, minlength=len(mixers.NAMES) + 1)
    print("rows: " + ", ".join(f"{name} {c}" for name, c in zip(("unmixed", *mixers.NAMES), counts) if c))
    print(f"augment: {args.augment or 'none'}")
    return 0


def _print_bad(bad: dict[str, str]) -> None:
    print(f"bad files: {len(bad)}")
    for path, reason in bad.items():
        print(f"  {display_path(path)}: {display_path(reason)}")


def _inspect(args: argparse.Namespace) -> int:
    index = index_directory(args.directory, follow_links=args.follow_links, log=False)  # reported below instead
    print(f"{display_path(index.directory)}: {index.samples} images in {index.num_classes} classes")
    counts = np.bincount(index.labels, minlength=index.num_classes)
    mask = validation_mask(index, args.validation_split) if args.validation_split else None
    names = [display_path(n) for n in index.class_names]
    width = max(len(n) for n in names)
    for label, name in enumerate(names):
        line = f"  {name:<{width}}  {counts[label]:>7}"
        if mask is not None:
            line += f"  (validation {int(mask[index.labels == label].sum())})"
        print(line)
    formats = collections.Counter(os.path.splitext(p)[1].lower() for p in index.relative_paths())
    print("formats: " + ", ".join(f"{display_path(ext)} {n}" for ext, n in formats.most_common()))
    print(f"left out: {index.skipped.total}")
    for line in index.skipped.describe():
        print(f"  {line}")
    for message in index.layout_warnings():
        print(f"warning: {message}")
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


class _StatusLine:
    """Progress on `stream`: one line rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.terminal = enabled and stream.isatty()
        self._width = 0
        self._last = 0.0

    def update(self, text: str) -> None:
        """Shows `text` in the updating line (terminals only; at most 10 times a second)."""
        now = time.monotonic()
        if self.terminal and now - self._last >= 0.1:
            self._last = now
            self._write("\r" + text.ljust(self._width))
            self._width = len(text)

    def line(self, text: str) -> None:
        """A milestone: a plain line when not on a terminal (a terminal has the updating line)."""
        if self.enabled and not self.terminal:
            self._write(text + "\n")

    def clear(self) -> None:
        """Blanks the updating line, so that what is printed next starts clean."""
        if self.terminal and self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _bench(args: argparse.Namespace) -> int:
    if args.min_epochs < 1 or args.min_seconds < 0 or args.workers < 1 or args.max_images < 1:
        raise ValueError(
            "`--min-epochs`, `--workers` and `--max-images` must be >= 1 and `--min-seconds` >= 0. "
            f"Received: --min-epochs={args.min_epochs}, --workers={args.workers}, "
            f"--max-images={args.max_images}, --min-seconds={args.min_seconds}"
        )
    loader, total = _make_loader(args, 0, args.max_images)
    options = loader.options
    h, w = options.image_size
    n = loader.index.samples
    used = f"{n} of {total} images (spread evenly; --max-images)" if n < total else f"{n} images"
    print(f"{args.directory}: {used} in {loader.index.num_classes} classes")
    print(
        f"batches: {len(loader)} of {options.batch_size} at {h}x{w} {options.dtype}, "
        f"mixing: {_mix_config(args)}, augment: {args.augment or 'none'}"
    )
    print(
        "method: per mode, the first batch is timed apart (worker start-up included), the rest of epoch 0 "
        f"warms up, then whole epochs are timed until >= {args.min_epochs} epochs and >= {args.min_seconds:g} s"
    )
    if loader.cache is not None:
        print(
            f"cache: {loader.cache.directory}; each mode runs uncached, then cached ('+cache': its warm-up epoch "
            "fills what is missing, the timed epochs read records)"
        )
    status = _StatusLine(sys.stderr, enabled=not args.quiet)
    results = []
    runs = [(mode, loader.with_cache(None)) for mode in args.modes]
    if loader.cache is not None:
        runs = [run for mode in args.modes for run in ((mode, loader.with_cache(None)), (mode + "+cache", loader))]
    for label, run_loader in runs:
        mode = label.removesuffix("+cache")
        workers = 0 if mode == "serial" else args.workers

        def progress(epoch: int, i: int, label: str = label) -> None:
            stage = "warm-up" if epoch == 0 else f"timing epoch {epoch}"
            status.update(f"{label}: {stage}, batch {i + 1}/{len(loader)}")

        status.line(f"{label}: warm-up (epoch 0, {len(loader)} batches)")
        result = throughput.measure(
            run_loader, mode, workers, min_epochs=args.min_epochs, min_seconds=args.min_seconds, on_batch=progress
        )
        status.clear()
        status.line(f"{label}: timed {len(result.epoch_seconds)} epochs in {sum(result.epoch_seconds):.1f} s")
        results.append(dataclasses.replace(result, mode=label))
    serial = next((r.median for r in results if r.mode == "serial"), None)
    print(
        f"{'mode':<16} {'workers':>7} {'first_batch_s':>13} {'epochs':>6} {'images_per_s':>12} "
        f"{'min':>8} {'max':>8} {'vs_serial':>9}"
    )
    for r in results:
        ratio = f"{r.median / serial:.2f}" if serial else "-"
        rates = r.rates
        print(
            f"{r.mode:<16} {r.workers:>7} {r.first_batch_s:>13.3f} {len(rates):>6} {r.median:>12.0f} "
            f"{rates.min():>8.0f} {rates.max():>8.0f} {ratio:>9}"
        )
    return 0


def _add_loading_arguments(parser: argparse.ArgumentParser) -> None:
    """The loader's options, with `LoaderOptions`' defaults, and `--augment`."""
    group = parser.add_argument_group("loading (the library's defaults, from LoaderOptions)")
    group.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=LoaderOptions.image_size,
        metavar=("HEIGHT", "WIDTH"),
        help="size each image is resized to (and drawn at)",
    )
    group.add_argument("--batch-size", type=int, default=LoaderOptions.batch_size, help="images per batch")
    group.add_argument("--color-mode", choices=tuple(COLOR_MODES), default=LoaderOptions.color_mode, help="channels")
    group.add_argument(
        "--interpolation", choices=tuple(INTERPOLATIONS), default=LoaderOptions.interpolation, help="resize filter"
    )
    group.add_argument("--dtype", choices=DTYPES, default=LoaderOptions.dtype, help="uint8 batches are not rescaled")
    group.add_argument(
        "--value-range",
        type=float,
        nargs=2,
        default=LoaderOptions.value_range,
        metavar=("LOW", "HIGH"),
        help="range of float32 pixels; None: (0, 1), or (0, 255) for uint8",
    )
    group.add_argument(
        "--pairing",
        choices=PAIRINGS,
        default=LoaderOptions.pairing,
        help="mixing partners from the same batch, or from a second pass over the dataset (decoded twice)",
    )
    group.add_argument(
        "--augment",
        metavar="FILE|MODULE:ATTRIBUTE",
        default=None,
        help="per-image augmentation, run before mixing as in training: an Albumentations pipeline saved with "
        "A.save (.json, .yaml or .yml), or a module:attribute (a transform, or a callable on a uint8 HWC image); "
        "the current directory is searched for the module",
    )
    group.add_argument(
        "--augment-input",
        choices=AUGMENT_INPUTS,
        default=LoaderOptions.augment_input,
        help="what --augment receives: the image resized to --image-size, or as decoded (the pipeline then "
        "crops and resizes to --image-size itself, e.g. A.RandomResizedCrop)",
    )


def _add_mixing_arguments(parser: argparse.ArgumentParser) -> None:
    """The mixing options, with `MixConfig`'s defaults."""
    group = parser.add_argument_group("mixing (the library's defaults, from MixConfig)")
    group.add_argument("--mixup-alpha", type=float, default=MixConfig.mixup_alpha, help="0 disables mixup")
    group.add_argument("--cutmix-alpha", type=float, default=MixConfig.cutmix_alpha, help="0 disables CutMix")
    group.add_argument(
        "--switch-prob", type=float, default=MixConfig.switch_prob, help="with both on: chance a sample uses CutMix"
    )
    group.add_argument("--mix-prob", type=float, default=MixConfig.mix_prob, help="chance a sample is mixed at all")
    group.add_argument(
        "--label-smoothing", type=float, default=MixConfig.label_smoothing, help="eps in y * (1 - eps) + eps / classes"
    )
    group.add_argument(
        "--mix-mode", choices=MIX_MODES, default=MixConfig.mix_mode, help="one weight (and box) per sample or per batch"
    )
    group.add_argument(
        "--mixer-probs",
        type=_mixer_probs,
        default=MixConfig.mixer_probs,
        metavar="NAME=P,...",
        help=f"chance a mixed sample uses each mixer ({', '.join(mixers.NAMES)}), e.g. mixup=0.5,fmix=0.5; "
        "summing to 1, in place of --switch-prob; None: mixup and/or CutMix as their alphas enable them",
    )
    group.add_argument(
        "--resizemix-scale",
        type=float,
        nargs=2,
        default=MixConfig.resizemix_scale,
        metavar=("LOW", "HIGH"),
        help="ResizeMix shrinks the partner's sides by U(LOW, HIGH)",
    )
    group.add_argument("--fmix-alpha", type=float, default=MixConfig.fmix_alpha, help="FMix's Beta parameter")
    group.add_argument(
        "--fmix-decay-power",
        type=float,
        default=MixConfig.fmix_decay_power,
        help="decay of FMix's noise spectrum (higher: smoother masks)",
    )
    group.add_argument(
        "--mix-off-epoch", type=int, default=MixConfig.mix_off_epoch, help="batches of this epoch on are not mixed"
    )
    group.add_argument(
        "--mix-schedule",
        default=MixConfig.mix_schedule,
        metavar="MODULE:ATTRIBUTE",
        help="a function epoch -> dict of mixing settings (e.g. a mixup_sequence.schedules object), "
        "found from the current directory",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixup-sequence", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    defaults = argparse.ArgumentDefaultsHelpFormatter
    preview = sub.add_parser(
        "preview",
        help="save a captioned grid of one mixed batch as a PNG",
        description="Save one batch as training sees it (decoded, augmented, mixed) as a PNG grid, each image "
        "drawn at --image-size and captioned with its soft label.",
        formatter_class=defaults,
    )
    preview.add_argument(
        "directory",
        help="folder with one sub-folder per class (with --labels: the folder the CSV's paths are relative to)",
    )
    preview.add_argument("--out", default="preview.png", help="PNG to write")
    preview.add_argument(
        "--labels", metavar="CSV", default=None, help="take the samples from this CSV file instead of class folders"
    )
    preview.add_argument("--x-col", default="filename", help="with --labels: the column of image paths")
    preview.add_argument(
        "--y-col",
        nargs="+",
        default=["class"],
        help="with --labels: the column of class names, or several 0/1 columns (multi-label)",
    )
    preview.add_argument("--columns", type=int, default=8, help="images per row")
    preview.add_argument("--seed", type=int, default=None, help="None: a fresh seed each run (printed)")
    preview.add_argument("--epoch", type=int, default=0, help="epoch of the batch")
    preview.add_argument("--batch", type=int, default=0, help="batch index within the epoch")
    _add_loading_arguments(preview)
    _add_mixing_arguments(preview)
    preview.set_defaults(run=_preview)

    inspect = sub.add_parser(
        "inspect",
        help="print classes, counts, formats, what was left out and why, image sizes, the split and bad files "
        "(exit 1 if any)",
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

    bench = sub.add_parser(
        "bench",
        help="images/s on your data: serial, threads and processes",
        description="Images/s of the loader on your data, per mode: time to the first batch (worker start-up "
        "included), then whole epochs after a warm-up epoch, as median and min-max over the timed epochs.",
        formatter_class=defaults,
    )
    bench.add_argument("directory", help="folder with one sub-folder per class")
    bench.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="threads or processes")
    bench.add_argument(
        "--modes", nargs="+", choices=throughput.MODES, default=list(throughput.MODES), help="modes to time"
    )
    bench.add_argument("--min-epochs", type=int, default=3, help="time at least this many whole epochs a mode")
    bench.add_argument("--min-seconds", type=float, default=3.0, help="and at least this many seconds a mode")
    bench.add_argument(
        "--max-images",
        type=int,
        default=1000,
        help="epochs of a larger folder use this many of its images, spread evenly over the classes",
    )
    bench.add_argument("--quiet", action="store_true", help="no progress on stderr")
    bench.add_argument("--cache", default=None, metavar="CACHE_DIR", help="read images from this image cache")
    _add_loading_arguments(bench)
    _add_mixing_arguments(bench)
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
    except (ValueError, TypeError, IndexError, OSError) as e:
        print(f"mixup-sequence {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
