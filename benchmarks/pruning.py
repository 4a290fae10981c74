"""EGIPruner on the rf-planted preset: which early metric ranks candidates, and does pruning pay at equal epochs?

``--correlations``: random structures of the rf-planted space (``studies/synthetic-rf-planted.yaml``: MS-TCN
2 stages x 6 layers x 32 maps, D_g = {2^0..2^8}) each trained the config's 12 epochs once; after every epoch the
validation F1@10, Edit, Acc, the validation loss (the training loss on the validation videos) and the training
loss. Printed: the Spearman rank correlation between each metric at the checkpoint epochs and the final (last
epoch) validation F1@10, which is the search's fitness, and how many of the final top quarter a cut keeping the
top third at that epoch would keep.

Default (the benchmark): two arms per search seed, each a G2L genetic search (``make_sampler("g2l")``) with the
same total training budget of ``--epochs`` epochs. ``none`` trains every candidate the full 12 epochs; ``egi``
runs :class:`~g2l_automl.pruners.EGIPruner` (its defaults unless ``--rule``/``--rungs``/``--eta`` say) and spends
the epochs it saves on more candidates. Measured per seed: (a) the final structure (the best trial) re-trained with
``--final-seeds`` seeds on the whole train list and scored on the test split (mean F1@10 over those seeds);
(b) the training epochs the pruned arm needed to reach the unpruned arm's final best validation value.

    python benchmarks/pruning.py --correlations [--structures 36] [--checkpoints 2 3 4 6 8]
    python benchmarks/pruning.py [--epochs 240] [--seeds 0 1 2 3 4] [--population 8] [--jobs 1]

Targets (issue 16): (a) pruned >= unpruned, median over seeds; (b) epochs to the unpruned best <= 0.5x.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import optuna
import torch
from scipy.stats import spearmanr

from g2l_automl.config import StudyConfig, load_config
from g2l_automl.data import generate, iterate_batches
from g2l_automl.models import build_model
from g2l_automl.pruners import EGIPruner
from g2l_automl.samplers import make_sampler
from g2l_automl.search import build_objective, config_trainer, load_test_split, train_and_score
from g2l_automl.structure import StructureSpec
from g2l_automl.training import replace_trainer
from g2l_automl.training._loss import segmentation_loss

PLANTED_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "studies", "synthetic-rf-planted.yaml")
CURVE_METRICS = ("F1@10", "Edit", "Acc", "val_loss", "train_loss")


def _config(tmp: str, report: str | None = None, rescore_top: int = 0) -> StudyConfig:
    root = generate(os.path.join(tmp, "rf-planted"), "rf-planted", seed=0)
    config = load_config(PLANTED_CONFIG, data_root=str(root))
    if report is not None:
        config.objective["report"] = report
    config.objective["rescore_top"] = rescore_top
    return config


def _val_loss(model: torch.nn.Module, videos, trainer) -> float:  # noqa: ANN001
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), torch.random.fork_rng():
        for batch in iterate_batches(videos, trainer.batch_size, rng=None):
            loss = segmentation_loss(model(batch.features, batch.mask), batch.labels, batch.mask,
                                     trainer.smoothing_weight, trainer.tau)  # fmt: skip
            total, n = total + float(loss) * len(batch.names), n + len(batch.names)
    model.train(was_training)
    return total / n


def _curve(config: StudyConfig, index: int, one_thread: bool) -> tuple[list[dict[str, float]], str]:
    """One random structure of the space trained the config's epochs: per epoch its metrics (CURVE_METRICS)."""
    if one_thread:
        torch.set_num_threads(1)
    objective = build_objective(config, "cpu")
    train, val = objective.videos()
    spec = config.space.to_structure(config.space.sample(np.random.RandomState(1000 + index)))
    model = build_model(spec, train[0].features.shape[0], objective.dataset.num_classes, seed=config.training["seed"])
    trainer = config_trainer(config, "cpu")
    curve = []
    for logs in trainer.epochs_of(model, train, val, objective.dataset.bg_labels):
        row = {k: float(logs["val"][k]) for k in ("F1@10", "Edit", "Acc")}
        row["val_loss"] = _val_loss(model, val, trainer)
        row["train_loss"] = float(logs.get("loss", math.nan))
        curve.append(row)
    return curve, "/".join(" ".join(str(d) for d in st) for st in spec.dilations())


def correlations(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(tmp)
        epochs = config.training["epochs"]
        work = functools.partial(_curve, config, one_thread=args.jobs > 1)
        start = time.perf_counter()
        if args.jobs > 1:
            with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
                results = pool.map(work, range(args.structures))
        else:
            torch.set_num_threads(args.threads)
            results = [work(i) for i in range(args.structures)]
        seconds = time.perf_counter() - start
    curves = [c for c, _ in results]
    final = np.array([c[-1]["F1@10"] for c in curves])
    print(
        f"rf-planted, {len(curves)} random structures x {epochs} epochs ({seconds:.0f} s); Spearman rho between "
        f"the metric at epoch e and the final (epoch {epochs}) validation F1@10 (losses negated); "
        f"final F1@10 median {np.median(final):.1f}, range {final.min():.1f}..{final.max():.1f}"
    )
    top_quarter = set(np.argsort(-final)[: max(1, len(final) // 4)])
    print(f"{'metric':<11}" + "".join(f"{f'e={e}':>14}" for e in args.checkpoints) + f"{f'e={epochs}':>14}")
    for name in CURVE_METRICS:
        sign = -1.0 if name.endswith("loss") else 1.0
        cells = ""
        for e in [*args.checkpoints, epochs]:
            at = sign * np.array([c[e - 1][name] for c in curves])
            rho = spearmanr(at, final).statistic if np.ptp(at) > 0 else math.nan
            kept = set(np.argsort(-at, kind="stable")[: math.ceil(len(at) / 3)])
            cells += f"{f'{rho:+.2f} ({len(kept & top_quarter)}/{len(top_quarter)})':>14}"
        print(f"{name:<11}{cells}")
    print("(in brackets: how many of the final top quarter a cut keeping the top third at that epoch keeps)")


# -- the benchmark ----------------------------------------------------------------------------------------------


def _pruner(args: argparse.Namespace, population: int) -> optuna.pruners.BasePruner:
    options = {"population_size": population}
    if args.rule:
        options["rule"] = args.rule
    if args.rungs:
        options["checkpoints"] = args.rungs
    if args.eta:
        options["reduction_factor"] = args.eta
    if args.min_trials:
        options["min_trials"] = args.min_trials
    return EGIPruner(**options)


def _arm(args: argparse.Namespace, config: StudyConfig, arm: str, seed: int) -> dict:
    """One search: G2L with (``egi``) or without (``none``) the pruner, until ``args.epochs`` epochs are spent."""
    if args.jobs > 1:
        torch.set_num_threads(1)
    objective = build_objective(config, "cpu")
    population = args.population
    sampler = make_sampler("g2l", config.space, {"population_size": population}, seed=seed)
    pruner = _pruner(args, population) if arm == "egi" else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    start, spent, curve = time.perf_counter(), 0, []  # curve: (epochs spent, best so far) after each trial
    best = -math.inf
    while spent < args.epochs and len(study.trials) < args.max_trials:
        study.optimize(objective, n_trials=1, catch=(Exception,))
        t = study.trials[-1]
        if "duplicate_of" not in t.user_attrs:
            spent += len(t.intermediate_values)
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None and not math.isnan(t.value):
            best = max(best, t.value)
        curve.append((spent, best))
    states = [t.state for t in study.trials]
    return {
        "curve": curve,
        "best": best,
        "structure": study.best_trial.user_attrs["structure"],
        "trials": len(study.trials),
        "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "complete": sum(s == optuna.trial.TrialState.COMPLETE for s in states),
        "seconds": time.perf_counter() - start,
    }


def _test_score(data, trainer, one_thread: bool, spec: dict, seed: int) -> float:  # noqa: ANN001
    if one_thread:
        torch.set_num_threads(1)
    return train_and_score(StructureSpec.from_dict(spec), data, replace_trainer(trainer, seed=seed), seed).metrics[
        "F1@10"
    ]


def _reach(curve: list[tuple[int, float]], target: float) -> int | None:
    for spent, best in curve:
        if best >= target:
            return spent
    return None


def _pool_map(jobs: int, fn, items):  # noqa: ANN001, ANN202
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return pool.starmap(fn, items)
    return [fn(*item) for item in items]


def benchmark(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if args.jobs == 1:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(tmp, args.report, args.rescore_top)
        start = time.perf_counter()
        jobs = [(arm, seed) for seed in args.seeds for arm in ("none", "egi")]
        runs = dict(zip(jobs, _pool_map(args.jobs, functools.partial(_arm, args, config), jobs), strict=True))
        data = load_test_split(config)
        trainer = config_trainer(config, "cpu")
        finals = [(job, seed) for job in jobs for seed in range(args.final_seeds)]
        work = functools.partial(_test_score, data, trainer, args.jobs > 1)
        scores = _pool_map(args.jobs, work, [(runs[job]["structure"], s) for job, s in finals])
        test: dict[tuple[str, int], list[float]] = {}
        for (job, _), score in zip(finals, scores, strict=True):
            test.setdefault(job, []).append(score)
        seconds = time.perf_counter() - start
    pruner = _pruner(args, args.population)
    rescored = f" (rescore_top {args.rescore_top}: both arms)" if args.rescore_top else ""
    print(
        f"rf-planted, G2L population {args.population}, {args.epochs} training epochs per search "
        f"(12 a full candidate), pruned arm: {pruner!r} on validation {config.objective['report']}; "
        f"value: validation F1@10{rescored}; test: final structure re-trained with {args.final_seeds} seeds, "
        f"test F1@10 (mean); {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}; {seconds:.0f} s"
    )
    print(
        f"{'seed':>4} {'trials none':>11} {'trials egi (pruned)':>20} {'val best none':>14} {'val best egi':>13} "
        f"{'test none':>10} {'test egi':>9} {'epochs to none best':>20}"
    )
    ratios, t_none, t_egi = [], [], []
    for seed in args.seeds:
        none, egi = runs[("none", seed)], runs[("egi", seed)]
        reach_none = _reach(none["curve"], none["best"])
        reach = _reach(egi["curve"], none["best"])
        ratio = None if reach is None or not reach_none else reach / reach_none
        ratios.append(ratio)
        t_none.append(statistics.fmean(test[("none", seed)]))
        t_egi.append(statistics.fmean(test[("egi", seed)]))
        trials_egi = f"{egi['trials']} ({egi['pruned']})"
        reach_cell = f"{reach}/{reach_none} = {ratio:.2f}x" if ratio is not None else f"never/{reach_none}"
        print(
            f"{seed:>4} {none['trials']:>11} {trials_egi:>20} {none['best']:>14.2f} "
            f"{egi['best']:>13.2f} {t_none[-1]:>10.2f} {t_egi[-1]:>9.2f} {reach_cell:>20}"
        )
        for arm, run in (("none", none), ("egi", egi)):
            dil = "/".join(" ".join(str(d) for d in st) for st in StructureSpec.from_dict(run["structure"]).dilations())
            print(f"      {arm}: {dil}   ({run['seconds']:.0f} s)")
    reached = [r for r in ratios if r is not None]
    # a run that never reached the target counts as worse than any that did (ratio inf) in the median
    med_ratio = statistics.median([math.inf if r is None else r for r in ratios])
    print(
        f"(a) test F1@10 median over seeds: none {statistics.median(t_none):.2f}, egi {statistics.median(t_egi):.2f} "
        f"-> target pruned >= unpruned {'MET' if statistics.median(t_egi) >= statistics.median(t_none) else 'NOT MET'}"
    )
    print(
        f"(b) epochs to the unpruned arm's final best: median ratio {med_ratio:.2f}x "
        f"({len(reached)}/{len(ratios)} seeds reached it) -> target <= 0.5x {'MET' if med_ratio <= 0.5 else 'NOT MET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--correlations", action="store_true", help="measure the checkpoint-final rank correlations")
    parser.add_argument("--structures", type=int, default=36, help="correlations: random structures")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[2, 3, 4, 6, 8])
    parser.add_argument("--epochs", type=int, default=240, help="training epochs per search (default: 240)")
    parser.add_argument("--max-trials", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--final-seeds", type=int, default=3)
    parser.add_argument("--rule", default=None, help="EGIPruner rule (default: the pruner's)")
    parser.add_argument("--rungs", type=int, nargs="+", default=None, help="EGIPruner checkpoints (rungs)")
    parser.add_argument("--eta", type=int, default=None, help="EGIPruner reduction_factor")
    parser.add_argument("--min-trials", type=int, default=None, help="EGIPruner min_trials")
    parser.add_argument("--report", default=None, help="objective.report: the metric pruned on (default: config's)")
    parser.add_argument(
        "--rescore-top", type=int, default=0, help="objective.rescore_top of both arms (default 0: off)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes at once (one torch thread each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads with --jobs 1")
    parser.add_argument("--quick", action="store_true", help="1 seed, 24 epochs, population 2 (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.final_seeds, args.structures, args.population = [0], 24, 1, 3, 2
    if args.correlations:
        correlations(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
