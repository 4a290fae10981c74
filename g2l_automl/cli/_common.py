"""Arguments shared by the commands that read a dataset."""

from __future__ import annotations

import argparse

from g2l_automl.data import ActionSegmentationDataset


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder in the MS-TCN layout")
    p.add_argument("--split", type=int, default=1, help="split (fold) number (default: 1)")
    p.add_argument(
        "--sample-rate", type=int, default=None, help="use every N-th frame (default: 1, or the checkpoint's)"
    )
    p.add_argument(
        "--bg-class",
        action="append",
        default=None,
        metavar="NAME",
        help="class ignored by the segmental metrics; repeatable (default: background)",
    )


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")


def open_dataset(
    args: argparse.Namespace, sample_rate: int = 1, bg_classes: tuple[str, ...] = ("background",)
) -> ActionSegmentationDataset:
    return ActionSegmentationDataset(
        args.data,
        sample_rate=args.sample_rate if args.sample_rate is not None else sample_rate,
        bg_classes=tuple(args.bg_class) if args.bg_class else bg_classes,
    )
