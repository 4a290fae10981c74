"""``g2l-optimize refine``: EGI (or DARTS) local search of the best trials of a study, or of one structure file."""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from g2l_automl import _attrs as attrs
from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_device_argument, check_option
from g2l_automl.config import load_config
from g2l_automl.egi import METHODS, NORMALIZATIONS, ROUNDINGS
from g2l_automl.errors import G2LError
from g2l_automl.metrics import format_table
from g2l_automl.objective import SegmentationObjective
from g2l_automl.samplers import sort_best_first
from g2l_automl.search import build_objective, format_dilations, load_study, refine_study
from g2l_automl.structure import StructureSpec, load_structure, save_structure


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="refine structures with EGI local search",
        description="Run G2L's expectation-guided iterative local search (or the DARTS baseline) on the K best "
        "trials of a search study and add each refined structure to the study as a new trial (user attrs "
        "refined_from, method, trajectory, metrics), or on one structure file with --structure. Settings come from "
        "the config's refine: section; the options below override them.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--study-name", help="refine trials of this study (needs --storage)")
    which.add_argument("--structure", help="refine this structure file (our JSON or a G2L config)")
    p.add_argument("--storage", help="the study's storage URL or journal file")
    p.add_argument("--config", required=True, help="the study config (data, training, refine settings)")
    p.add_argument("--top", type=int, default=None, help="refine the K best COMPLETE trials (default: refine.top)")
    p.add_argument("--trial", type=int, action="append", default=None, metavar="N", help="refine trial N (repeatable)")
    p.add_argument("--method", choices=METHODS, default=None)
    p.add_argument("--epochs", type=int, default=None, help="local search epochs (paper: 30)")
    p.add_argument("--interval", type=int, default=None, help="epochs between dilation updates (paper: 3)")
    p.add_argument("--candidates", type=int, default=None, help="S, dilations per layer (paper: 3)")
    p.add_argument("--rounding", choices=ROUNDINGS, default=None, help="Eq. 6: round (unbiased, default) or floor")
    p.add_argument(
        "--stop-when-converged",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stop at the first update that moves no dilation (default: refine.stop_when_converged, true); "
        "--no-stop-when-converged runs every update (Alg. 2)",
    )
    p.add_argument("--normalize", choices=NORMALIZATIONS, default=None)
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--out", default=None, help="write refined structures (and refined_best.json) here")
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    if args.study_name and not args.storage:
        raise G2LError("--study-name needs --storage")
    if args.structure and not args.out:
        raise G2LError("--structure needs --out (where the refined structure goes)")
    check_option("--top", args.top, 1)
    for option in ("--epochs", "--interval", "--candidates"):
        check_option(option, getattr(args, option[2:]), 1)
    if args.out:
        check_out_dir(args.out)  # before any training
    config = load_config(args.config, data_root=args.data)
    search = config.local_search(
        args.device,
        method=args.method,
        epochs=args.epochs,
        interval=args.interval,
        num_candidates=args.candidates,
        rounding=args.rounding,
        normalize=args.normalize,
        stop_when_converged=args.stop_when_converged,
    )
    objective = build_objective(config, args.device)
    if not isinstance(objective, SegmentationObjective):
        raise G2LError(f"{args.config}: refine trains candidates; it needs objective.kind: segmentation")
    if args.structure:
        return _refine_file(args, search, objective)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(args.storage, args.study_name)
    objective.videos()
    top = args.top if args.top is not None else config.refine["top"]
    refined = refine_study(study, objective, search, top=top, numbers=args.trial or ())
    best = sort_best_first(study, refined)[0]
    spec = StructureSpec.from_dict(best.user_attrs[attrs.STRUCTURE])
    print(
        f"\nbest refined: trial {best.number} (from trial {best.user_attrs[attrs.REFINED_FROM]}), "
        f"value {', '.join(f'{v:.2f}' for v in best.values)}"
    )
    print(format_table(attrs.trial_metrics(best)))
    if args.out:
        out = Path(args.out)
        for trial in refined:
            write_json_atomic(out / f"refined_trial{trial.number}.json", trial.user_attrs[attrs.STRUCTURE])
        save_structure(spec, out / "refined_best.json")
        save_structure(spec, out / "refined_best_g2l_config.json", format="g2l", settings={"study": args.study_name})
        print(f"saved {out / 'refined_best.json'} (train it with: g2l-optimize train --structure ...)")
    return 0


def _refine_file(args: argparse.Namespace, search, objective) -> int:  # noqa: ANN001
    start = load_structure(args.structure)
    result, score = objective.refine_structure(start, search)
    metrics, n_params, seconds = score.metrics, score.n_params, score.seconds
    out = Path(args.out)
    save_structure(result.structure, out / "refined.json")
    save_structure(result.structure, out / "refined_g2l_config.json", format="g2l", settings={"method": search.method})
    write_json_atomic(
        out / "refine.json",
        {
            "method": search.method,
            "trajectory": result.trajectory,
            "converged": result.converged,
            "metrics": metrics,
            "params": n_params,
            "train_seconds": seconds,
        },
    )
    for step in result.trajectory:
        print(f"epoch {step['epoch']:3d}: " + format_dilations(step["dilations"]))
    print(format_table(metrics))
    print(f"saved {out / 'refined.json'}")
    return 0
