"""The `mixup-sequence` command line: look at a folder and its mixed batches.

mixup-sequence preview DIR --out grid.png [--mixup-alpha A --cutmix-alpha A ...]
mixup-sequence inspect DIR [--validation-split 0.2]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import numpy as np

from mixup_sequence import _rng
from mixup_sequence.index import index_directory
from mixup_sequence.loader import BatchLoader
from mixup_sequence.mixing import MixConfig
from mixup_sequence.options import LoaderOptions
from mixup_sequence.preview import save_batch_grid
from mixup_sequence.split import validation_mask


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
    formats = collections.Counter(os.path.splitext(p)[1].lower() for p in index.filepaths)
    print("formats: " + ", ".join(f"{ext} {n}" for ext, n in formats.most_common()))
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

    inspect = sub.add_parser("inspect", help="print classes, image counts, formats and the split")
    inspect.add_argument("directory", help="folder with one sub-folder per class")
    inspect.add_argument("--validation-split", type=float, default=None)
    inspect.add_argument("--follow-links", action="store_true")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, OSError) as e:
        print(f"mixup-sequence {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
