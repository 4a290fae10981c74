"""``g2l-optimize ensemble``: EvaNet's late-fusion ensemble of a search study's top diverse architectures."""

from __future__ import annotations

import argparse

import optuna

from g2l_automl import _attrs as attrs
from g2l_automl._checks import check_int
from g2l_automl._files import check_out_file, write_json_atomic
from g2l_automl.cli._common import add_device_argument
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.search import DEFAULT_MIN_DISTANCE, display_url, ensemble_study, load_study, select_members
from g2l_automl.training import resolve_device


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="ensemble the best distinct architectures of a study",
        description="EvaNet's ensemble: take the K best COMPLETE trials of a search study whose architectures "
        "are pairwise at least --min-distance genes apart (refined trials included), train each from scratch on "
        "the split's train list with the config's training settings and model seed, sum their per-frame softmax "
        "outputs on the test list and take the argmax. Prints F1@{10,25,50}, Edit and Acc of every member and of "
        "the ensemble and the members' pairwise Hamming distances; stores the summary on the study as the user "
        "attr 'ensemble' and, with --out, writes it as JSON.",
    )
    p.add_argument("--storage", required=True, help="the study's storage URL or journal file")
    p.add_argument("--study-name", required=True)
    p.add_argument("--config", required=True, help="the study config (data, training settings, seed)")
    p.add_argument("--top", type=int, default=3, help="K, the number of distinct architectures (default: 3)")
    p.add_argument(
        "--min-distance",
        type=int,
        default=DEFAULT_MIN_DISTANCE,
        help="least Hamming distance (genes: op, dilation, kernel, width, branch ...) between two members; 1 only "
        f"rules out repeats (default: {DEFAULT_MIN_DISTANCE})",
    )
    p.add_argument("--epochs", type=int, default=None, help="training epochs per member (default: training.epochs)")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--out", default=None, help="write the summary JSON (members, ensemble, deltas) here")
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    check_int(args.top, "--top", 1, error=G2LError)
    check_int(args.min_distance, "--min-distance", 1, error=G2LError)
    if args.epochs is not None:
        check_int(args.epochs, "--epochs", 1, error=G2LError)
    out = check_out_file(args.out) if args.out else None
    config = load_config(args.config, data_root=args.data)
    resolve_device(args.device)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(args.storage, args.study_name)
    select_members(study, args.top, args.min_distance)  # a study with nothing to ensemble fails before any data is read
    result = ensemble_study(
        study, config, top=args.top, device=args.device, epochs=args.epochs, min_distance=args.min_distance
    )
    summary = {"storage": display_url(args.storage), "config": str(args.config), **result.to_dict()}
    print("\n" + result.format())
    if out is not None:
        write_json_atomic(out, summary)
        print(f"\nwrote {out}")
    # last, so a failed run leaves the study's earlier summary (if any) in place; full structures stay in the trials
    study.set_user_attr(attrs.ENSEMBLE, {"config": str(args.config), **result.to_dict(structures=False)})
    print(f"stored the summary on study {args.study_name!r} as user attr 'ensemble'")
    return 0
