"""NAS-TC vs Timeception on the synthetic multi-label preset (NAS-TC Table III in kind), over seeds.

Per seed: Temp-DARTS searches a cell on a small supernet (alpha steps on the validation videos), the NAS-TC
network is retrained with it from scratch, and the Timeception network with the same layers, groups and input
width is trained the same way (same epochs, optimiser, batch order), once with Timeception's own 1.25 channel
expansion (branch width C_group / 4) and once with the reduction by M = 3 of NAS-TC's Fig. 5a; all are scored
on the test split. The
settings are studies/nas/nastc-multilabel.yaml's; the seed drives the supernet, the weights and the batch order (the
dataset and its split stay fixed). The table gives TC-layer parameters, test mAP mean +- std over seeds and the
mean seconds of the search and of the training.

    python benchmarks/nastc.py [--seeds 0 1 2] [--data DIR] [--threads 1] [--quick]

``--quick`` runs a seconds-long version (24 videos, tiny networks, 2 epochs) for the smoke test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from g2l_automl.cli._nastc import load_splits, parse_nastc_config, run_experiment, train_and_score
from g2l_automl.data import generate

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "studies" / "nas" / "nastc-multilabel.yaml"

QUICK = {
    "data": {"steps": 16},
    "network": {"layers": 2, "groups": 2, "channels": 12, "hidden": 16},
    "search": {"layers": 1, "groups": 1, "channels": 6, "epochs": 2, "warmup": 1, "batch_size": 8},
    "train": {"epochs": 2, "batch_size": 8},
}


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} +- {std:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default=None, help="multilabel dataset folder (default: generated in a temp dir)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the ops are tiny)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long run for the smoke test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = yaml.safe_load(CONFIG.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            size = {"num_videos": 24} if args.quick else {}
            root = str(generate(Path(tmp) / "ml", "multilabel", seed=0, **size))
        if args.quick:
            for section, fields in QUICK.items():
                raw[section].update(fields)
        rows: dict[str, dict[str, list]] = {}
        genotypes = []
        start = time.perf_counter()
        for seed in args.seeds:
            raw["search"]["seed"] = raw["train"]["seed"] = seed
            config = parse_nastc_config(raw, f"{CONFIG.name} (seed {seed})", data_root=root)
            result = run_experiment(config, log=lambda line: None, device="cpu")
            # Timeception with the paper's Fig. 5a reduction by M = 3 (5/3 channel growth), next to its own 1.25
            wide = parse_nastc_config({**raw, "timeception": {"reduction": 3}}, config.path, data_root=root)
            train, val, test = load_splits(wide)
            result["models"]["Timeception (M=3)"] = train_and_score(
                lambda w=wide, d=train.input_dim, c=train.num_classes: w.build_timeception(d, c),
                wide.make_trainer("cpu"),
                train,
                val,
                test,
            )
            genotypes.append((seed, result["genotype"]["nodes"]))
            for name, r in result["models"].items():
                row = rows.setdefault(name, {"params": [], "mAP": [], "search": [], "train": []})
                row["params"].append(r["tc_parameters"])
                row["mAP"].append(r["test"]["mAP"])
                row["train"].append(r["train_seconds"])
                row["search"].append(result["search"]["seconds"] if name == "NAS-TC" else 0.0)
            print(
                f"seed {seed}: "
                + ", ".join(f"{n} {r['test']['mAP']:.1f}" for n, r in result["models"].items())
                + f" ({time.perf_counter() - start:.0f}s so far)",
                flush=True,
            )
    n = config.network
    print(
        f"\nmulti-label preset{' (quick)' if args.quick else ''}, steps {config.data['steps']}, "
        f"{n['layers']} TC layers, {n['groups']} groups, {n['channels']} input channels; search "
        f"{config.search['epochs']} epochs ({config.search['warmup']} warm-up) on a {config.search['layers']}-layer "
        f"supernet, training {config.train['epochs']} epochs; seeds {args.seeds}"
    )
    print(
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), "
        f"torch {torch.__version__}\n"
    )
    print("| model | TC params | test mAP (%) | search s | train s |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        params = sorted(set(row["params"]))
        p = f"{params[0]:,}" if len(params) == 1 else f"{min(params):,}-{max(params):,}"
        search = f"{statistics.mean(row['search']):.1f}" if name == "NAS-TC" else "-"
        print(f"| {name} | {p} | {_mean_std(row['mAP'])} | {search} | {statistics.mean(row['train']):.1f} |")
    print("\nsearched cells (per node: [op, input]; input 0 = I_k-2, 1 = I_k-1, 2+i = node i):")
    for seed, nodes in genotypes:
        print(f"  seed {seed}: {nodes}")


if __name__ == "__main__":
    main()
