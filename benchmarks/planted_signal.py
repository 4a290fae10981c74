"""Signal against noise of the search's fitness: the validation metrics of a set of structures, each trained with
several initialisation seeds (and, separately, several validation folds), side by side in one run.

    python benchmarks/planted_signal.py [--config studies/synthetic-rf-planted.yaml] [--seeds 3] [--folds 3]
        [--random 4] [--repeats 1] [--data DIR] [--threads 2]

Structures: MS-TCN's 2^i (the config's base), all 1, all max, the planted optimum (rf-planted data only,
g2l_automl.data.planted_dilations) and ``--random`` random ones from the config's space. "init" is the std over
initialisation seeds (weights, batch order, dropout) on validation fold 0; "val" the std over validation folds
(K-fold rotation of the held-out part of the train list) with seed 0. With ``--repeats N`` every fitness value is
the objective's mean over N trainings (``objective: {repeats: N}``; sample k uses seeds kN .. kN + N - 1), so the
spread is that of the fitness a search with repeats ranks by. The target of issue 15: the largest
per-structure init std is at most 1/3 of the range of the structures' means, for the fitness metric.
Without ``--data`` the config's preset is generated into a temporary folder (seed 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from g2l_automl.config import load_config
from g2l_automl.data import PRESETS, PlantedPreset, generate, planted_dilations
from g2l_automl.search import build_objective
from g2l_automl.structure import StructureSpec

METRICS = ("F1@10", "Edit", "Acc")


def structures(config, preset: str | None, n_random: int) -> dict[str, StructureSpec]:
    base = config.structure
    choices = config.space.gene("stage0.layer0.dilation").choices
    layers = len(base.stages[0].layers)
    stages = len(base.stages)
    out = {
        "2^i": base,
        "all 1": base.with_dilations([[1] * layers] * stages),
        "all max": base.with_dilations([[max(choices)] * layers] * stages),
    }
    if preset is not None and isinstance(PRESETS.get(preset), PlantedPreset):
        out["planted"] = base.with_dilations([planted_dilations(PRESETS[preset], layers, choices)] * stages)
    rng = np.random.RandomState(123)
    for i in range(n_random):
        out[f"random {i}"] = config.space.to_structure(config.space.sample(rng))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="studies/synthetic-rf-planted.yaml")
    parser.add_argument("--data", default=None)
    parser.add_argument("--preset", default="rf-planted", help="preset to generate without --data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3, help="validation folds for the 'val' spread (0: skip)")
    parser.add_argument("--random", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1, help="trainings averaged per fitness value")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = args.data or generate(Path(tempfile.mkdtemp()) / "data", args.preset, seed=0)
    marker = Path(root) / "synthetic.json"
    preset = json.loads(marker.read_text()).get("preset") if marker.exists() else None
    config = load_config(args.config, data_root=str(root))
    if args.epochs:
        config.training["epochs"] = args.epochs
    config.objective["repeats"] = args.repeats
    fitness = config.objective["metric"]
    print(
        f"config {args.config}, data {root} ({preset}), fitness {fitness} (mean of {args.repeats} training(s)), "
        f"{args.seeds} seeds, {args.folds} folds"
    )
    start = time.perf_counter()
    rows = {}
    for name, spec in structures(config, preset, args.random).items():
        init = _scores(config, spec, seeds=range(args.seeds), folds=[0])
        val = _scores(config, spec, seeds=[0], folds=range(args.folds)) if args.folds > 1 else []
        rows[name] = (spec, init, val)
        m = {k: [s[k] for s in init] for k in METRICS}
        line = "  ".join(f"{k} {statistics.mean(v):5.1f} +- {statistics.stdev(v):4.1f}" for k, v in m.items())
        if val:
            line += f"  | val-fold std {fitness} {statistics.stdev([s[fitness] for s in val]):4.1f}"
        dils = " | ".join(" ".join(str(d) for d in st) for st in spec.dilations())
        print(f"{name:9s} {dils:40s} {line}", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")
    for metric in METRICS:
        means = [statistics.mean(s[metric] for s in init) for _, init, _ in rows.values()]
        stds = [statistics.stdev(s[metric] for s in init) for _, init, _ in rows.values()]
        spread = max(means) - min(means)
        ratio = max(stds) / spread if spread else float("inf")
        verdict = "met" if ratio <= 1 / 3 else "NOT met"
        extra = ""
        if args.folds > 1:
            vstd = statistics.mean(statistics.stdev(s[metric] for s in val) for _, _, val in rows.values())
            extra = f"; mean std over init seeds {statistics.mean(stds):.1f} vs over validation folds {vstd:.1f}"
        print(f"{metric}: range of means {spread:.1f}, largest init std {max(stds):.1f}, ratio {ratio:.2f} "
              f"(target <= 0.33: {verdict}){extra}")  # fmt: skip
    if "planted" in rows:
        fit = {n: statistics.mean(s[fitness] for s in init) for n, (_, init, _) in rows.items()}
        order = sorted(fit, key=fit.get, reverse=True)
        print(f"ranking by mean {fitness}: {', '.join(order)}")


def _scores(config, spec: StructureSpec, seeds, folds) -> list[dict[str, float]]:
    out = []
    for fold in folds:
        objective = build_objective(config, "cpu")
        objective.val_fold = fold  # the K-fold rotation that objective.rotate_val uses for its repeats
        for seed in seeds:
            out.append(objective.evaluate(spec, seed_offset=seed * objective.repeats).metrics)
    return out


if __name__ == "__main__":
    main()
