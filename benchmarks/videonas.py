"""Video-NAS on the synthetic multilabel preset: the differentiable search (+ retraining of the decoded network),
Optuna TPE and our G2LGeneticSampler over the same space, and the hand-designed R(2+1)D-like baseline.

Every method ends the same way: its architecture is trained from scratch on train + validation for
``--retrain-epochs`` and scored on the test split (mAP). The searches choose on the validation part only. Budgets
are of the same order in wall time: one supernet epoch (all paths, plus an architecture step per batch) costs
about as much as ten epochs of one discrete network, so ``--search-epochs`` supernet epochs are set against
``--trials`` x ``--trial-epochs`` discrete epochs. Space and training settings come from
``studies/nas/videonas-multilabel.yaml``; each seed changes the weights, the batch order and the sampler, not the data.

    python benchmarks/videonas.py [--seeds 0 1 2] [--search-epochs 10] [--trials 12] [--trial-epochs 10]
    python benchmarks/videonas.py --quick      # smoke test: one seed, a tiny dataset and space (< 60 s)
    python benchmarks/videonas.py --decode-retrain [--quick]   # the paper's decoding / retraining vs ours

``--decode-retrain`` runs the differentiable search alone, once per seed, and retrains what it found four ways:
the width path decoded by the sum of path weights (the paper's Viterbi) or of their logs, each retrained from
scratch or from the searched (supernet) weights -- paired, so the seed noise of the search cancels in the
differences.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch

from g2l_automl.config import VideoNASConfig, load_videonas_config
from g2l_automl.data import ActionSegmentationDataset, classification_splits, concat_sets, generate
from g2l_automl.models import VideoNASArch
from g2l_automl.nas import VideoNASSearch, VideoNASSpace
from g2l_automl.objective import VideoNASObjective, train_and_score
from g2l_automl.samplers import G2LGeneticSampler

CONFIG = Path(__file__).resolve().parents[1] / "studies" / "nas" / "videonas-multilabel.yaml"


def _retrain(config: VideoNASConfig, arch: VideoNASArch, full, test, epochs: int, seed: int, init_state=None) -> dict:
    scored = train_and_score(
        arch,
        full,
        test,
        config.trainer(epochs, "cpu", seed),
        dropout=config.training["dropout"],
        seed=seed,
        init_state=init_state,
    )
    return {"mAP": scored["metrics"]["mAP"], "mflops": scored["flops"] / 1e6, "params": scored["params"]}


def _optuna(config, space, train, val, sampler, trials: int, epochs: int, seed: int) -> VideoNASArch:
    objective = VideoNASObjective(
        space,
        train,
        val,
        trainer=config.trainer(epochs, "cpu", seed),
        dropout=config.training["dropout"],
        model_seed=seed,
    )
    # no pruning (create_study's default is Optuna's MedianPruner, which our objectives' reports reach)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=trials)
    return VideoNASArch.from_dict(study.best_trial.user_attrs["arch"])


def _searcher(args: argparse.Namespace, config: VideoNASConfig, space: VideoNASSpace, seed: int) -> VideoNASSearch:
    """The config's differentiable search over ``space`` for ``--search-epochs`` (warm-up scaled with it)."""
    s = config.search
    warmup = max(1, round(args.search_epochs * s["warmup_epochs"] / s["epochs"]))
    search = {**s, "epochs": args.search_epochs, "warmup_epochs": warmup}
    return dataclasses.replace(config, space=space, search=search).searcher("cpu", seed)


def _decode_retrain(args, config, space, train, val, test) -> None:
    """Per seed one search; both decodings, each retrained from scratch and from the searched weights, and a
    control: from scratch with twice the retraining epochs (does the warm start only add training?)."""
    full = concat_sets(train, val)
    arms = [(c, i) for c in ("sum", "log") for i in ("scratch", "searched")] + [("sum", "scratch 2x epochs")]
    rows: dict[tuple[str, str], list[dict]] = {arm: [] for arm in arms}
    start = time.perf_counter()
    for seed in args.seeds:
        supernet = _searcher(args, config, space, seed).run(train, val).supernet
        done: dict[tuple[VideoNASArch, str], dict] = {}  # both decodings often agree: train each network once
        for criterion, init in arms:
            arch = supernet.decode(criterion)
            if (arch, init) not in done:
                state = supernet.inherited_state(arch) if init == "searched" else None
                epochs = args.retrain_epochs * (2 if "2x" in init else 1)
                done[arch, init] = _retrain(config, arch, full, test, epochs, seed, state)
            row = {**done[arch, init], "arch": arch.summary()}
            rows[criterion, init].append(row)
            print(f"  seed {seed} {criterion}/{init}: mAP {row['mAP']:.1f}  {row['arch']}", file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} CPU, "
          f"{args.threads} thread(s); {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(f"data: multilabel preset, {len(train)} train / {len(val)} val / {len(test)} test videos, steps={args.steps}")
    print(f"search: {args.search_epochs} supernet epochs; retraining: {args.retrain_epochs} epochs on train+val")
    print(f"seeds: {args.seeds}\n")
    base = np.array([r["mAP"] for r in rows["sum", "scratch"]])
    print("| decode | retrain from | test mAP | paired diff. vs sum/scratch | MFLOPs | params |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (criterion, init), arm in rows.items():
        m = np.array([r["mAP"] for r in arm])
        d = m - base
        print(
            f"| {criterion} | {init} | {m.mean():.1f} +- {m.std():.1f} | {d.mean():+.1f} +- {d.std():.1f} | "
            f"{np.mean([r['mflops'] for r in arm]):.2f} | {np.mean([r['params'] for r in arm]):.0f} |"
        )
    print("\narchitectures:")
    for (criterion, init), arm in rows.items():
        for seed, r in zip(args.seeds, arm, strict=True):
            print(f"  {criterion}/{init:<18} seed {seed}: {r['arch']}  (test mAP {r['mAP']:.1f})")


def run(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        size = {"num_videos": args.num_videos} if args.num_videos else {}
        root = generate(os.path.join(tmp, "multilabel"), "multilabel", seed=0, **size)
        config = load_videonas_config(CONFIG, data_root=str(root))
        space = config.space
        if args.quick:
            space = VideoNASSpace(widths=[[8, 12], [12, 16]], max_layers=[1, 2], stem_channels=8)
        d = config.data
        train, val, test = classification_splits(
            ActionSegmentationDataset(root), d["split"], d["val_fraction"], d["split_seed"], args.steps
        )
        if args.decode_retrain:
            _decode_retrain(args, config, space, train, val, test)
            return
        full = concat_sets(train, val)
        population = max(2, args.trials // 2)
        methods = {
            "differentiable": f"{args.search_epochs} supernet + {args.retrain_epochs}",
            "optuna TPE": f"{args.trials}x{args.trial_epochs} + {args.retrain_epochs}",
            "G2LGeneticSampler": f"{args.trials}x{args.trial_epochs} + {args.retrain_epochs}",
            "baseline R(2+1)D-like": f"{args.retrain_epochs}",
        }
        results: dict[str, list[dict]] = {m: [] for m in methods}
        for seed in args.seeds:
            for method in methods:
                start = time.perf_counter()
                if method == "differentiable":
                    arch = _searcher(args, config, space, seed).run(train, val).arch
                elif method == "optuna TPE":
                    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=population)
                    arch = _optuna(config, space, train, val, sampler, args.trials, args.trial_epochs, seed)
                elif method == "G2LGeneticSampler":
                    sampler = G2LGeneticSampler(None, population_size=population, seed=seed)
                    arch = _optuna(config, space, train, val, sampler, args.trials, args.trial_epochs, seed)
                else:
                    arch = space.baseline()
                search_seconds = time.perf_counter() - start
                row = _retrain(config, arch, full, test, args.retrain_epochs, seed)
                row.update(arch=arch.summary(), search_s=search_seconds, total_s=time.perf_counter() - start)
                results[method].append(row)
                print(f"  seed {seed} {method}: mAP {row['mAP']:.1f}  {row['arch']}", file=sys.stderr, flush=True)
    _print(args, methods, results, len(train), len(val), len(test), space)


def _print(args, methods, results, n_train, n_val, n_test, space) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} CPU, "
          f"{args.threads} thread(s)")  # fmt: skip
    print(f"data: multilabel preset, {n_train} train / {n_val} val / {n_test} test videos, steps={args.steps}")
    print(f"space: {space!r} ({space.size:.2e} gene combinations)")
    print(f"seeds: {args.seeds}\n")
    print("| method | budget (epochs) | search+retrain s | test mAP | MFLOPs | params |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method, budget in methods.items():
        rows = results[method]
        m = np.array([r["mAP"] for r in rows])
        print(
            f"| {method} | {budget} | {np.mean([r['total_s'] for r in rows]):.0f} | {m.mean():.1f} +- {m.std():.1f} | "
            f"{np.mean([r['mflops'] for r in rows]):.2f} | {np.mean([r['params'] for r in rows]):.0f} |"
        )
    print("\narchitectures (stem | width: stack ops per stage; '-' = all skip):")
    for method, rows in results.items():
        for seed, r in zip(args.seeds, rows, strict=True):
            print(f"  {method:<22} seed {seed}: {r['arch']}  (test mAP {r['mAP']:.1f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke test: one seed, tiny data, space and budgets")
    p.add_argument("--decode-retrain", action="store_true", help="sum/log decoding x scratch/searched retraining")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--search-epochs", type=int, default=10)
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--trial-epochs", type=int, default=10)
    p.add_argument("--retrain-epochs", type=int, default=30)
    p.add_argument("--num-videos", type=int, default=None, help="default: the preset's 144")
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small networks)")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.search_epochs, args.trials, args.trial_epochs, args.retrain_epochs = [0], 3, 3, 2, 3
        args.num_videos, args.steps = 24, 16
    run(args)


if __name__ == "__main__":
    main()
