"""``g2l-optimize make-synthetic OUT``: write a synthetic dataset in the MS-TCN layout."""

from __future__ import annotations

import argparse

from g2l_automl.data import PRESETS, ActionSegmentationDataset, generate


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="generate a synthetic dataset",
        description="Generate a synthetic action-segmentation dataset (features, groundTruth, splits, mapping.txt) "
        "with context-dependent classes that only a wide receptive field can separate.",
    )
    p.add_argument("out", help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="dataset size and shape (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset that make-synthetic wrote there before (only such a folder: its synthetic.json "
        "marker and nothing else beside the dataset); the swap is atomic, so an interrupted run keeps the old one",
    )


def run(args: argparse.Namespace) -> int:
    path = generate(args.out, args.preset, seed=args.seed, overwrite=args.overwrite)
    ds = ActionSegmentationDataset(path)
    print(f"wrote {args.preset} dataset to {path}: {ds.num_classes} classes, splits {ds.folds}")
    return 0
