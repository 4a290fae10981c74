"""Sampler overhead: time of one sampler decision (``ask`` + the space's suggestions) against studies that already
hold 100, 1,000 and 5,000 finished trials, for our samplers and Optuna's, side by side in one run.

The space is the paper's: MS-TCN 4 stages x 10 layers, D_g = {2^0..2^10} (40 genes of 11 candidates; CMA-ES gets
their indices as integers). Each study is filled with random finished trials (generation attrs as a long search
leaves them, population 50), in memory; a timed decision is told FAIL so the population does not change. A
sampler whose decision exceeds ``--max-seconds`` at one size is not run at larger sizes.

    python benchmarks/sampler_overhead.py [--sizes 100 1000 5000] [--asks 5] [--max-seconds 5]

Target (issue 6): ours flat in the number of trials and at least 10x cheaper than TPE at 5,000 trials.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from g2l_automl.samplers import SAMPLERS, make_sampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

POPULATION = 50


def _options(name: str) -> dict:
    return {
        "g2l": {"population_size": POPULATION},
        "evolution": {"population_size": POPULATION},
        "nsga2": {"population_size": POPULATION},
    }.get(name, {})


def _filled_study(name: str, space: SearchSpace, n: int, seed: int) -> optuna.Study:
    sampler = make_sampler(name, space, _options(name), seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rng = np.random.RandomState(seed)
    index = name == "cmaes"
    dists = {g.name: IntDistribution(0, len(g.choices) - 1) for g in space.genes} if index else space.distributions()
    keys = ("G2LGeneticSampler:generation", "NSGAIISampler:generation")
    trials = []
    for i in range(n):
        picks = [rng.randint(len(g.choices)) for g in space.genes]
        params = {g.name: (k if index else g.choices[k]) for g, k in zip(space.genes, picks, strict=True)}
        trials.append(
            create_trial(
                params=params,
                distributions=dists,
                value=float(rng.rand() * 100),
                system_attrs={key: i // POPULATION for key in keys},
            )
        )
    study.add_trials(trials)
    return study


def measure(name: str, space: SearchSpace, n: int, asks: int) -> float:
    """Median seconds of one decision of sampler ``name`` on a study holding ``n`` finished trials."""
    study = _filled_study(name, space, n, seed=0)
    encoding = "index" if name == "cmaes" else "categorical"
    times = []
    for _ in range(asks):
        start = time.perf_counter()
        trial = study.ask()
        space.suggest(trial, encoding)
        times.append(time.perf_counter() - start)
        study.tell(trial, state=TrialState.FAIL)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--asks", type=int, default=5, help="timed decisions per cell (median reported)")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=5.0,
        help="skip larger sizes past this per decision (GP at 5,000 trials needs over 24 GiB)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 20 and 60, 2 asks (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.asks = [20, 60], 2
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = SearchSpace(StructureSpec.mstcn(), [Dilations(k=2, T=10)])
    print(
        f"machine: {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"optuna {optuna.__version__}; space: 40 genes x 11 dilations; median of {args.asks} decisions"
    )
    header = "".join(f"{f'{n} trials':>14}" for n in args.sizes)
    print(f"{'sampler':<10}{header}{'growth':>9}")
    results: dict[str, dict[int, float]] = {}
    for name in args.samplers:
        row: dict[int, float] = {}
        for n in args.sizes:
            if row and max(row.values()) > args.max_seconds:
                break
            row[n] = measure(name, space, n, args.asks)
        results[name] = row
        cells = "".join(f"{row[n] * 1e3:>11.1f} ms" if n in row else f"{'skipped':>14}" for n in args.sizes)
        growth = row[max(row)] / row[min(row)] if len(row) > 1 else float("nan")
        print(f"{name:<10}{cells}{growth:>8.1f}x", flush=True)
    largest = max(args.sizes)
    tpe = results.get("tpe", {}).get(largest)
    for ours in ("g2l", "evolution"):
        row = results.get(ours, {})
        if tpe and largest in row:
            print(
                f"{ours} at {largest} trials: {tpe / row[largest]:.1f}x cheaper than TPE; "
                f"{row[largest] / row[min(row)]:.1f}x its own cost at {min(row)} trials"
            )


if __name__ == "__main__":
    main()
