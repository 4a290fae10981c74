"""Arguments shared by the commands that read a dataset, and checks of option values."""

from __future__ import annotations

import argparse
from typing import Any

from g2l_automl._checks import check_int, check_real
from g2l_automl.data import ActionSegmentationDataset
from g2l_automl.errors import DataError, G2LError
from g2l_automl.training import parse_threads


def check_option(option: str, value: Any, minimum: int) -> None:
    """An integer option's value must be >= ``minimum`` (None: not given, the default applies)."""
    if value is not None:
        check_int(value, option, minimum, error=G2LError)


def check_seconds(option: str, value: float | None) -> None:
    """A number of seconds must be positive and finite (None: not given)."""
    if value is not None:
        check_real(value, option, 0.0, open_low=True, error=G2LError)


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
    """``--device`` and ``--threads``: every command that trains or runs a network takes both."""
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument(
        "--threads",
        type=_threads,
        default="auto",
        metavar="N|auto",
        help="torch CPU threads; auto (default): the cores (OMP_NUM_THREADS if set) shared equally among the "
        "search workers running on this host, re-counted each trial",
    )


def _threads(text: str) -> int | str:
    try:
        return parse_threads(text)
    except G2LError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--threads: ")) from None


def open_dataset(
    args: argparse.Namespace, sample_rate: int = 1, bg_classes: tuple[str, ...] = ("background",)
) -> ActionSegmentationDataset:
    ds = ActionSegmentationDataset(
        args.data,
        sample_rate=args.sample_rate if args.sample_rate is not None else sample_rate,
        bg_classes=tuple(args.bg_class) if args.bg_class else bg_classes,
    )
    for name in args.bg_class or ():  # a typo would silently score the background as an action
        if name not in ds.class_index:
            raise DataError(f"--bg-class {name!r}: not a class of {ds.root / 'mapping.txt'}")
    return ds
