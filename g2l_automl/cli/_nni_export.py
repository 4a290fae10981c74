"""``g2l-optimize nni-export``: an NNI experiment's results paired with the parameters each trial really used."""

from __future__ import annotations

import argparse

import optuna

from g2l_automl import _attrs as attrs
from g2l_automl.config import load_config
from g2l_automl.nni import experiment_dir, export_to_study, to_frozen_trials
from g2l_automl.search import display_url


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="print (and copy into an Optuna study) an NNI experiment's correctly paired results",
        description="Read an NNI experiment run with `python -m g2l_automl.nni.trial`: each trial job's parameters "
        "come from the record the trial itself wrote, its metrics from NNI's database by job id, so results pair "
        "with the parameters that produced them even where NNI 3.0's own view mixes them up (trial concurrency "
        "> 1). With --to-storage the trials go into a new Optuna study, for optuna-dashboard and "
        "optuna.visualization.",
    )
    p.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    p.add_argument("--experiment-dir", default=None, help="NNI experimentWorkingDirectory (default: ~/nni-experiments)")
    p.add_argument("--config", default=None, help="the study config: adds each trial's structure as a user attr")
    p.add_argument("--to-storage", default=None, help="copy into a new study in this storage (URL or journal file)")
    p.add_argument("--study-name", default=None, help="name of that study (default: nni-EXPERIMENT_ID)")
    p.add_argument("--direction", choices=("maximize", "minimize"), default="maximize")


def run(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = experiment_dir(args.experiment_id, args.experiment_dir)
    space = load_config(args.config).space if args.config else None
    trials = to_frozen_trials(path, space)
    print(f"{'job':>6} {'id':>4} {'NNI param id':>12} {'state':>9} {'default':>9}  parameters")
    for t in trials:
        value = f"{t.value:.3f}" if t.value is not None else "-"
        params = " ".join(str(v) for v in t.params.values())
        print(
            f"{t.user_attrs[attrs.NNI_TRIAL_JOB_ID]:>6} {t.user_attrs[attrs.G2L_ID]:>4}"
            f" {t.user_attrs[attrs.NNI_PARAMETER_ID] or '-':>12} {t.state.name:>9} {value:>9}  {params}"
        )
    print(f"{len(trials)} trials of experiment {args.experiment_id}")
    if args.to_storage:
        name = args.study_name or f"nni-{args.experiment_id}"
        study = export_to_study(trials, args.to_storage, name, args.direction)
        print(f"copied {len(study.trials)} trials into study {name!r} in {display_url(args.to_storage)}")
    return 0
