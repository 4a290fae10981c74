"""``g2l-optimize videonas``: Video-NAS width / depth / temporal-op search for video-level multi-label
classification, by the differentiable relaxation (search, decode, retrain, compare with the R(2+1)D-like
baseline) or by Optuna trials against a study made with ``optuna create-study``."""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_device_argument, check_option
from g2l_automl.config import VIDEONAS_SAMPLERS, load_videonas_config
from g2l_automl.errors import G2LError
from g2l_automl.search import run_videonas_differentiable, run_videonas_optuna


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Video-NAS width/depth/temporal-op search for video-level classification",
        description="Video-NAS search on video-level multi-label classification (features resampled to "
        "data.steps). --method differentiable: supernet search (BCE + lambda log_k FLOPs), Viterbi decoding, "
        "retraining of the decoded architecture and of the R(2+1)D-like baseline on train+val, test mAP. "
        "--method optuna: trials against a study made with 'optuna create-study' (directions matching "
        "optuna.metric: mAP maximize, flops/params minimize).",
    )
    p.add_argument("--config", required=True, help="e.g. studies/nas/videonas-multilabel.yaml")
    p.add_argument("--out", required=True, help="folder for results.json")
    p.add_argument("--method", choices=("differentiable", "optuna"), default="differentiable")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--storage", default=None, help="optuna: sqlite:///x.db, postgresql://..., or a journal file")
    p.add_argument("--study-name", default=None, help="optuna: the study's name")
    p.add_argument("--sampler", choices=VIDEONAS_SAMPLERS, default=None, help="optuna: default the config's")
    p.add_argument("--n-trials", type=int, default=None, help="optuna: trials for this worker (default: config's)")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (optuna) or search seed (differentiable)")
    p.add_argument(
        "--retrain",
        action="store_true",
        help="optuna: retrain the best trial(s) on train+val and score them on the test split",
    )
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    check_option("--n-trials", args.n_trials, 1)
    check_out_dir(args.out)  # before the search, not after it
    config = load_videonas_config(args.config, data_root=args.data)
    if args.method == "differentiable":
        results = run_videonas_differentiable(config, args.device, args.seed)
    else:
        if not args.storage or not args.study_name:
            raise G2LError(
                "--method optuna needs --storage and --study-name (of a study made with optuna create-study)"
            )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        results = run_videonas_optuna(
            config,
            args.storage,
            args.study_name,
            sampler=args.sampler,
            n_trials=args.n_trials,
            seed=args.seed,
            retrain=args.retrain,
            device=args.device,
        )
    results.update(config=config.path, space=config.space.to_dict())
    out = Path(args.out)
    write_json_atomic(out / "results.json", results)
    print(f"wrote {out / 'results.json'}")
    return 0
