"""Does G2L-style search beat what Optuna already has, for the same compute? Every sampler searches the same space
with the same objective for the same number of trials over several seeds; every run is a study in one storage.

Objectives:
- ``proxy``: :class:`g2l_automl.objective.ProxyObjective`, a deterministic score of the dilations against a hidden
  target (MS-TCN 2 stages x 10 layers, D_g = {2^0..2^10}: 20 genes of 11 candidates); microseconds a trial.
- ``train``: candidate training as in G2L's global search, in kind: the synthetic tiny preset, MS-TCN 2 stages x 6
  layers x 16 maps, D_g = {2^0..2^6}, 12 epochs (batch 1, lr 1e-3: fewer epochs leave every candidate near
  F1@10 = 8 on this preset, which ranks nothing), fitness validation F1@10; about 2 s a trial.

CMA-ES searches the candidates' indices as integers (``encoding="index"``); the others search categories. Output:
the median (and min-max) best value at 25/50/100 % of the budget, how many trials each sampler needed to reach
random search's final best of the same seed, and a plotly figure of best-so-far vs trials with spread bands.

    python benchmarks/compare_samplers.py --objective proxy [--trials 150] [--seeds 0 1 2 3 4] [--storage FILE]
    python benchmarks/compare_samplers.py --objective train [--trials 20] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time

import numpy as np
import optuna

from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.objective import ProxyObjective, SegmentationObjective
from g2l_automl.reports import best_so_far, comparison_figure
from g2l_automl.samplers import SAMPLERS, make_sampler
from g2l_automl.search import open_storage
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer


def _setup(objective: str, tmp: str) -> tuple[SearchSpace, ActionSegmentationDataset | None]:
    if objective == "proxy":
        return SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=10), [Dilations(k=2, T=10)]), None
    space = SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=6, channels=16), [Dilations(k=2, T=6)])
    return space, ActionSegmentationDataset(generate(os.path.join(tmp, "tiny"), "tiny", seed=0))


def _objective(objective: str, space: SearchSpace, data: ActionSegmentationDataset | None, encoding: str):  # noqa: ANN202
    if objective == "proxy":
        return ProxyObjective(space, seed=0, encoding=encoding)
    trainer = Trainer(epochs=12, batch_size=1, lr=1e-3, seed=0, device="cpu", progress=False)
    return SegmentationObjective(data, space, trainer=trainer, val_fraction=0.25, encoding=encoding)


def _sampler_options(name: str, population: int) -> dict:
    """Equal footing: the GA population and the model-based samplers' random start have the same size."""
    if name in ("g2l", "nsga2"):
        return {"population_size": population}
    if name == "evolution":
        return {
            "population_size": population,
            "sample_size": max(2, population // 4),
            "max_mutations": 3,
            "anneal_rounds": population,
        }
    if name in ("tpe", "gp", "cmaes"):
        return {"n_startup_trials": population}
    return {}


def run(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        storage_path = args.storage or os.path.join(tmp, "compare.log")
        storage = open_storage(storage_path, create=True)
        space, data = _setup(args.objective, tmp)
        curves: dict[str, list[np.ndarray]] = {}
        seconds: dict[str, float] = {}
        for name in args.samplers:
            encoding = "index" if name == "cmaes" else "categorical"
            objective = _objective(args.objective, space, data, encoding)
            start = time.perf_counter()
            for seed in args.seeds:
                study = optuna.create_study(
                    storage=storage,
                    study_name=f"{args.objective}-{name}-seed{seed}",
                    direction="maximize",
                    sampler=make_sampler(name, space, _sampler_options(name, args.population), seed=seed),
                    load_if_exists=True,
                )
                todo = args.trials - len(study.trials)
                if todo > 0:
                    study.optimize(objective, n_trials=todo, catch=(Exception,))
                curves.setdefault(name, []).append(best_so_far(study, args.trials))
            seconds[name] = time.perf_counter() - start
        _print_table(args, curves, seconds, storage_path)
        if args.figure:
            fig = comparison_figure(
                curves,
                f"{args.objective} objective: best value so far ({len(args.seeds)} seeds, median and 25-75 %)",
            )
            fig.write_html(args.figure, include_plotlyjs=True)
            print(f"figure: {os.path.abspath(args.figure)}")


def _print_table(args: argparse.Namespace, curves: dict[str, list[np.ndarray]], seconds: dict, storage: str) -> None:
    n = args.trials
    marks = [max(1, math.ceil(n * f)) for f in (0.25, 0.5, 1.0)]
    print(
        f"objective {args.objective}, {n} trials x {len(args.seeds)} seeds {args.seeds}, population/startup "
        f"{args.population}; machine {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"optuna {optuna.__version__}; studies in {storage}"
    )
    heads = "".join(f"{f'best @{m}':>22}" for m in marks)
    print(f"{'sampler':<10}{heads}{'trials to random best':>24}{'seconds':>9}")
    random_final = [run[-1] for run in curves.get("random", [])]
    for name, runs in curves.items():
        cells = ""
        for m in marks:
            values = np.array([run[m - 1] for run in runs])
            cell = f"{np.nanmedian(values):.2f} ({np.nanmin(values):.2f}..{np.nanmax(values):.2f})"
            cells += f"{cell:>22}"
        reach = ""
        if random_final:
            hits = []
            for run, target in zip(runs, random_final, strict=False):
                idx = np.flatnonzero(run >= target)
                hits.append(int(idx[0]) + 1 if idx.size else None)
            reached = [h for h in hits if h is not None]
            reach = (
                f"{np.median(reached):.0f} ({len(reached)}/{len(hits)} runs)" if reached else f"never (0/{len(hits)})"
            )
        print(f"{name:<10}{cells}{reach:>24}{seconds[name]:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objective", choices=("proxy", "train"), default="proxy")
    parser.add_argument("--trials", type=int, default=None, help="per run (default: proxy 150, train 20)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument(
        "--population", type=int, default=None, help="GA population / startup trials (default: proxy 10, train 5)"
    )
    parser.add_argument("--storage", default=None, help="journal file keeping every study (default: temporary)")
    parser.add_argument("--figure", default=None, help="write the best-so-far figure (HTML) here")
    parser.add_argument("--quick", action="store_true", help="proxy, 12 trials, 2 seeds (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.objective, args.trials, args.seeds, args.population = "proxy", 12, [0, 1], 4
    if args.trials is None:
        args.trials = 150 if args.objective == "proxy" else 20
    if args.population is None:
        args.population = 10 if args.objective == "proxy" else 5
    run(args)


if __name__ == "__main__":
    main()
