"""``g2l-optimize search``: run structure-search trials against a study made with ``optuna create-study``."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from g2l_automl._attrs import trial_structure
from g2l_automl._files import check_out_dir
from g2l_automl.cli._common import add_device_argument, check_option, check_seconds
from g2l_automl.cli._progress import SearchProgress
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.pruners import PRUNERS
from g2l_automl.samplers import SAMPLERS
from g2l_automl.search import WarmStart, best_summary, enqueue_warm_starts, parse_source, run_search, warm_starts
from g2l_automl.structure import save_structure


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="search structures in an Optuna study",
        description="Run search trials against an existing study (optuna create-study --storage URL --study-name "
        "NAME --direction maximize). Start several processes on one storage (journal file or PostgreSQL) to "
        "search with many workers. Prints the best structure at the end.",
    )
    p.add_argument("--storage", required=True, help="sqlite:///x.db, postgresql://..., or a journal file path")
    p.add_argument("--study-name", required=True)
    p.add_argument("--config", required=True, help="study config, e.g. studies/synthetic-gtea-like.yaml")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="default: the config's search.sampler")
    p.add_argument("--n-trials", type=int, default=None, help="trials for this worker (default: the config's)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (give each worker its own)")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument(
        "--seed-baseline",
        action="store_true",
        help="enqueue the config's base structure (e.g. MS-TCN's 2**i dilations) once, into generation 0",
    )
    p.add_argument(
        "--warm-start",
        metavar="STORAGE:STUDY",
        default=None,
        help="enqueue the best structures of another study (any storage, e.g. sqlite:///g2l.db:gtea) into "
        "generation 0; genes outside this space's candidates move to the nearest one",
    )
    p.add_argument("--warm-top", type=int, default=None, metavar="K", help="how many of them (default 5)")
    p.add_argument(
        "--pruner", choices=PRUNERS, default=None, help="default: the config's pruner.name (none: no pruning)"
    )
    p.add_argument("--out", default=None, help="write best_structure.json and best_g2l_config.json here")
    p.add_argument(
        "--heartbeat-interval",
        type=int,
        default=60,
        help="RDB storage: seconds between a running trial's heartbeats; a trial silent for --grace-period is "
        "failed and its parameters re-queued, so a killed worker loses nothing (0: off; default 60)",
    )
    p.add_argument("--grace-period", type=int, default=None, help="default: twice --heartbeat-interval")
    p.add_argument("--max-retry", type=int, default=3, help="re-queues of a trial whose worker died (default 3)")
    add_device_argument(p)


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (e.g. a cluster scheduler) ends the worker like Ctrl-C: Optuna fails the running trial cleanly
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    check_option("--n-trials", args.n_trials, 1)
    check_seconds("--timeout", args.timeout)
    check_option("--max-retry", args.max_retry, 0)
    check_option("--heartbeat-interval", args.heartbeat_interval, 0)
    check_option("--grace-period", args.grace_period, 1)
    check_option("--seed", args.seed, 0)
    check_option("--warm-top", args.warm_top, 1)
    if args.warm_top is not None and not args.warm_start:
        raise G2LError("--warm-top: only with --warm-start STORAGE:STUDY")
    source = parse_source(args.warm_start) if args.warm_start else None
    if args.out:
        check_out_dir(args.out)  # before any trial: a bad --out must not end the run after the work
    config = load_config(args.config, data_root=args.data)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    starts = warm_starts(*source, config.space, args.warm_top or 5) if source else []
    signal.signal(signal.SIGTERM, _terminate)
    rdb = "://" in args.storage
    total = args.n_trials if args.n_trials is not None else config.search["n_trials"]
    name = args.sampler or config.search["sampler"]
    population = (config.samplers.get(name) or {}).get("population_size") or config.population_size
    progress = SearchProgress(total, population)
    callbacks = [_best_so_far(Path(args.out), args.study_name)] if args.out else []
    with progress:
        prepare = _warm_start(starts, progress.log) if starts else None
        study = _run(args, config, rdb, progress, [*callbacks, progress], prepare)
    print("\n" + best_summary(study))
    if args.out:
        try:
            _save_best(study, Path(args.out), args.study_name)
        except OSError as exc:
            raise G2LError(
                f"--out: {args.out}: cannot write ({exc.strerror or exc}); the trials are stored in the study, "
                f"save them again with refine or report"
            ) from None
    return 0


def _warm_start(starts: list[WarmStart], log: Callable[[str], Any]) -> Callable[[optuna.Study], None]:
    def prepare(study: optuna.Study) -> None:
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        added = enqueue_warm_starts(study, starts)
        moved = sum(len(s.mapped) for s in starts)
        log(
            f"warm start: enqueued {added} of {len(starts)} structures of {starts[0].source.split('#')[0]!r} "
            f"(best first; {moved} genes moved to the nearest candidate)"
            + (
                f"; the study already has {len(done)} complete trials, so they join its current generation"
                if done
                else ""
            )
        )

    return prepare


def _run(
    args: argparse.Namespace,
    config: Any,
    rdb: bool,
    progress: SearchProgress,
    callbacks: list,
    prepare: Callable[[optuna.Study], None] | None,
) -> Any:
    return run_search(
        config,
        storage=args.storage,
        study_name=args.study_name,
        sampler=args.sampler,
        n_trials=args.n_trials,
        timeout=args.timeout,
        seed=args.seed,
        seed_baseline=args.seed_baseline,
        device=args.device,
        pruner=args.pruner,
        heartbeat_interval=args.heartbeat_interval if rdb else None,
        grace_period=args.grace_period,
        max_retry=args.max_retry,
        threads=args.threads,
        callbacks=callbacks,
        log=progress.log,
        prepare=prepare,
    )


def _best_so_far(out: Path, study_name: str):  # noqa: ANN202
    """A search callback: a new best trial (one objective) is saved to ``out`` at once, so a long search leaves
    its best so far; a failed write (full disk, ``out`` removed and not creatable) is reported and the search
    goes on."""

    def save(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE and len(study.directions) == 1:
            if study.best_trial.number == trial.number:
                _save_best(study, out, study_name, quiet=True)

    return save


def _save_best(study: optuna.Study, out: Path, study_name: str, quiet: bool = False) -> None:
    """best_structure.json + best_g2l_config.json (one pair per Pareto-optimal trial for several objectives)."""
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return
    single = len(study.directions) == 1
    for trial in [study.best_trial] if single else study.best_trials:
        spec = trial_structure(trial)  # what the trial trained and scored (refined in the trial, if it was)
        if spec is None:
            continue
        suffix = "" if single else f"_trial{trial.number}"
        save_structure(spec, out / f"best_structure{suffix}.json")
        save_structure(spec, out / f"best_g2l_config{suffix}.json", format="g2l", settings={"study": study_name})
        if not quiet:
            print(f"saved {out / f'best_structure{suffix}.json'} and {out / f'best_g2l_config{suffix}.json'}")
