"""Does a warm start from a search on one dataset speed up the search on another?

A G2L search on the source preset (the study a user already has) gives its ``--top`` best structures; on the
target preset, per seed, a cold search and a warm one (those structures enqueued into generation 0, exactly as
``g2l-optimize search --warm-start``) run with the same sampler seed, config and budget. Compute is counted in
training epochs (a structure the study already scored costs nothing). Reported per seed: the cold search's final
best, the epochs the cold search needed to reach it, the epochs the warm search needed to reach it (or "never"),
and the warm search's final best; a control arm enqueues MS-TCN's 2^i (``--seed-baseline``) instead, to tell
carried-over structures from any sensible start. The space and training are ``studies/synthetic-tiny.yaml``'s
(1 stage x 4 layers x 16 maps, dilations 2^0..2^5), trained ``--epochs`` 8 at ``--lr`` 0.005 (the config's 3
epochs at 0.001 leave most candidates at F1 0 on gtea-like), so a run takes minutes on a CPU.

    python benchmarks/warm_start.py [--source tiny] [--target gtea-like] [--seeds 0 1 2] [--trials 20]
        [--source-trials 24] [--top 4] [--videos 16] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch
import yaml

from g2l_automl.config import load_config
from g2l_automl.data import generate
from g2l_automl.reports import best_so_far_by_epochs, study_epochs
from g2l_automl.search import run_search
from g2l_automl.search._warm_start import enqueue_warm_starts, warm_starts

CONFIG = Path(__file__).resolve().parents[1] / "studies" / "synthetic-tiny.yaml"


def write_config(root: Path, epochs: int, lr: float) -> Path:
    """``studies/synthetic-tiny.yaml`` with the benchmark's training length and learning rate."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["training"].update(epochs=epochs, lr=lr)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def search(config_path: Path, data: Path, name: str, trials: int, seed: int, prepare=None) -> optuna.Study:  # noqa: ANN001
    """One G2L search of ``trials`` trials in a journal file beside the config."""
    storage = str(config_path.parent / f"{name}.log")
    backend = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    optuna.create_study(storage=backend, study_name=name, direction="maximize")
    config = load_config(config_path, data_root=str(data))
    return run_search(
        config, storage, name, sampler="g2l", n_trials=trials, seed=seed, device="cpu", threads=1,
        log=lambda line: None, prepare=prepare,
    )  # fmt: skip


def epochs_to_reach(study: optuna.Study, target: float) -> int | None:
    """The first epoch count at which the best so far is >= ``target`` (None: never)."""
    total = study_epochs(study) or 0
    curve = best_so_far_by_epochs(study, np.arange(total + 1))
    hits = [e for e, v in enumerate(curve) if not math.isnan(v) and v >= target - 1e-9]
    return hits[0] if hits else None


def _at(epochs: int | None) -> str:
    return "never" if epochs is None else f"{epochs} epochs"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", default="tiny", help="source preset (default tiny)")
    p.add_argument("--target", default="gtea-like", help="target preset (default gtea-like)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--trials", type=int, default=20, help="trials of each target search")
    p.add_argument("--source-trials", type=int, default=24)
    p.add_argument("--top", type=int, default=4, help="structures carried over (--warm-top)")
    p.add_argument("--videos", type=int, default=16, help="videos per synthetic dataset (cost)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs a candidate (default 8)")
    p.add_argument("--lr", type=float, default=0.005, help="learning rate (default 0.005)")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    start = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config_path = write_config(root, args.epochs, args.lr)
        source_data = generate(root / "source", args.source, seed=0, num_videos=args.videos)
        target_data = generate(root / "target", args.target, seed=0, num_videos=args.videos)
        source = search(config_path, source_data, "source", args.source_trials, seed=0)
        space = load_config(CONFIG).space
        base_params = space.to_params(load_config(CONFIG).structure)  # MS-TCN's 2^i, as --seed-baseline
        starts = warm_starts(str(root / "source.log"), "source", space, args.top)
        print(f"source {args.source}: best {source.best_value:.2f} after {len(source.trials)} trials; carried over:")
        for s in starts:
            print(f"  {s.source}  {[s.params[n] for n in space.names]}")
        for seed in args.seeds:
            cold = search(config_path, target_data, f"cold{seed}", args.trials, seed)
            warm = search(
                config_path,
                target_data,
                f"warm{seed}",
                args.trials,
                seed,
                prepare=lambda st: enqueue_warm_starts(st, starts),
            )
            baseline = search(
                config_path, target_data, f"base{seed}", args.trials, seed,
                prepare=lambda st: st.enqueue_trial(base_params),
            )  # fmt: skip
            target = cold.best_value
            row = {
                "seed": seed,
                "cold_best": target,
                "cold_epochs_to_best": epochs_to_reach(cold, target),
                "warm_epochs_to_cold_best": epochs_to_reach(warm, target),
                "warm_best": warm.best_value,
                "baseline_epochs_to_cold_best": epochs_to_reach(baseline, target),
                "baseline_best": baseline.best_value,
                "cold_epochs": study_epochs(cold),
                "warm_epochs": study_epochs(warm),
                "warm_start_best_value": max(
                    (t.value for t in warm.trials if "warm_start" in t.user_attrs and t.value is not None),
                    default=None,
                ),
            }
            rows.append(row)
            reached = row["warm_epochs_to_cold_best"]
            print(
                f"seed {seed}: cold best {target:.2f} at {row['cold_epochs_to_best']} epochs; warm reaches it at "
                f"{_at(reached)}, ends at {row['warm_best']:.2f} "
                f"(best carried-over structure {row['warm_start_best_value']:.2f}); control, MS-TCN's 2^i enqueued "
                f"instead: reaches it at {_at(row['baseline_epochs_to_cold_best'])}, ends at "
                f"{row['baseline_best']:.2f}; budgets {row['cold_epochs']} / {row['warm_epochs']} epochs"
            )
    minutes = (time.time() - start) / 60
    print(f"{minutes:.1f} min on {platform.node()} ({platform.processor() or platform.machine()}, torch 1 thread)")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "minutes": minutes}, indent=2))


if __name__ == "__main__":
    main()
