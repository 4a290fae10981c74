"""``g2l-optimize compare``: the searched structure(s) against the config's base structure, K paired seeds each,
on the test split."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna

from g2l_automl import _attrs as attrs
from g2l_automl._files import check_out_file, write_json_atomic
from g2l_automl.cli._common import add_device_argument, check_option
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.search import Arm, compare_structures, display_url, load_study, study_arms
from g2l_automl.structure import load_structure
from g2l_automl.training import resolve_device


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="compare searched structures with the baseline on the test split",
        description="Is the searched structure better than the hand-designed one? Trains the config's base "
        "structure (the baseline, e.g. MS-TCN's 2^i) and each searched structure (files given with --structure, "
        "and/or a study's best search trial and best refined trial) with K paired seeds each (seed i = the "
        "config's training.seed + i, for both the weights and the dropout/batch order of every arm) on the split's "
        "whole train list with the config's training settings, and scores the test list. Prints mean +- std of "
        "F1@{10,25,50}, Edit and Acc per structure, the difference searched - baseline with the std of the "
        "per-seed paired differences, and a verdict per searched structure: better/worse on a metric where the "
        "mean paired difference exceeds 2 standard errors (std/sqrt(K)), else inconclusive. With --out writes the "
        "summary as JSON; with a study stores it as the user attr 'compare' (g2l-optimize report shows it).",
    )
    p.add_argument("--config", required=True, help="the study config (data, training settings, base structure)")
    p.add_argument(
        "--structure",
        action="append",
        default=None,
        metavar="FILE",
        help="a structure to compare (our JSON or a G2L config); repeatable",
    )
    p.add_argument("--storage", default=None, help="with --study-name: compare that study's best trial(s)")
    p.add_argument(
        "--study-name",
        default=None,
        help="a single-objective study: its best search trial and, if there are refined trials, its best refined one",
    )
    p.add_argument("--seeds", type=int, default=3, help="K, paired seeds per structure, >= 2 (default: 3)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per model (default: training.epochs)")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--out", default=None, help="write the summary JSON (per-seed metrics, means, differences) here")
    add_device_argument(p)


def _file_arms(paths: list[str], config) -> list[Arm]:  # noqa: ANN001
    arms: list[Arm] = []
    for path in paths:
        file = Path(path)
        if file.is_dir():
            raise G2LError(f"--structure: {path}: is a folder; give a structure file")
        if not file.is_file():
            raise G2LError(f"--structure: {path}: file not found")
        try:
            spec = load_structure(file, base=config.structure)
        except G2LError as exc:
            raise G2LError(f"--structure: {exc}") from None
        labels = {arm.label for arm in arms}
        label = f"file {file.name}"
        if label in labels:
            label = f"file {path}"
        n = 2
        while label in labels:
            label, n = f"file {path} #{n}", n + 1
        arms.append(Arm(label, spec, str(path)))
    return arms


def run(args: argparse.Namespace) -> int:
    check_option("--seeds", args.seeds, 2)  # a spread needs two seeds at least
    check_option("--epochs", args.epochs, 1)
    if bool(args.storage) != bool(args.study_name):
        raise G2LError("--storage and --study-name go together: give both, or neither")
    if not args.structure and not args.study_name:
        raise G2LError("no structure to compare: give --structure FILE and/or --storage URL --study-name NAME")
    out = check_out_file(args.out) if args.out else None
    config = load_config(args.config, data_root=args.data)
    arms = _file_arms(args.structure or [], config)
    study = None
    if args.study_name:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = load_study(args.storage, args.study_name)
        arms += study_arms(study)
    resolve_device(args.device)
    start = time.perf_counter()
    result = compare_structures(config, arms, seeds=args.seeds, device=args.device, epochs=args.epochs)
    seconds = time.perf_counter() - start
    head = {"config": str(args.config)}
    if study is not None:
        head.update(storage=display_url(args.storage), study=args.study_name)
    print("\n" + result.format())
    print(f"\n{len(arms) + 1} structures x {args.seeds} seeds trained and scored in {seconds:.0f}s")
    if out is not None:
        write_json_atomic(out, {**head, **result.to_dict()})
        print(f"wrote {out}")
    if study is not None:  # last, so a failed run leaves the study's earlier summary (if any) in place
        study.set_user_attr(attrs.COMPARE, {**head, **result.to_dict(structures=False)})
        print(f"stored the summary on study {args.study_name!r} as user attr 'compare'")
    return 0
