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

``--checks`` tests RESULTS.md's two explanations of the gap instead (issue 19 item 7): per seed one search, then
NAS-TC (the config's channels), NAS-TC with its channels scaled to Timeception's TC parameters, and Timeception,
each trained ``--epochs`` epochs (default 120, four times the config's budget) with the test mAP taken at four
checkpoints and the validation-mAP curve kept, so one sees whether the curves have flattened:

    python benchmarks/nastc.py --checks [--epochs 120] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
import yaml

from g2l_automl.config import parse_nastc_config
from g2l_automl.data import generate
from g2l_automl.models import NASTCNetwork
from g2l_automl.nas import run_experiment, train_and_score
from g2l_automl.training import evaluate_classifier

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


def _equal_params_channels(config, genotype, input_dim: int, classes: int, target: int) -> int:
    """NAS-TC's input width (a multiple of the groups) whose TC parameters come closest to ``target``."""
    n = config.network
    widths = range(n["groups"], 2 * n["channels"] + 1, n["groups"])
    count = {
        c: NASTCNetwork(
            input_dim, classes, genotype, multiplier=config.nastc["multiplier"], **{**n, "channels": c}
        ).tc_parameters()
        for c in widths
    }
    return min(widths, key=lambda c: abs(count[c] - target))


def _curve(build, trainer, train, val, test, checkpoints: tuple[int, ...]) -> dict:
    """Train ``build()`` (weights under the trainer's seed); test mAP at ``checkpoints``, val mAP every epoch."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(trainer.seed)
        model = build()
    tests: dict[int, float] = {}

    def at(epoch: int, logs: dict) -> None:
        if epoch in checkpoints:
            tests[epoch] = evaluate_classifier(model, test)["mAP"]

    history = trainer.fit(model, train, val, callback=at)
    return {"tc": model.tc_parameters(), "test": tests, "val": [h["val"]["mAP"] for h in history]}


def checks(args: argparse.Namespace, raw: dict, root: str) -> None:
    """Longer training and equal TC parameters: NAS-TC vs Timeception (issue 19 item 7)."""
    checkpoints = tuple(round(args.epochs * k / 4) for k in (1, 2, 3, 4))
    rows: dict[str, dict[str, list]] = {}
    start = time.perf_counter()
    for seed in args.seeds:
        raw["search"]["seed"] = raw["train"]["seed"] = seed
        raw["train"]["epochs"] = args.epochs
        config = parse_nastc_config(raw, f"{CONFIG.name} (seed {seed})", data_root=root)
        train, val, test = config.splits()
        d, c = train.input_dim, train.num_classes
        genotype = config.make_search("cpu").run(train, val).genotype
        timeception = config.build_timeception(d, c).tc_parameters()
        width = _equal_params_channels(config, genotype, d, c, timeception)
        m = config.nastc["multiplier"]
        builds = {  # partial binds this seed's values now
            "NAS-TC": partial(config.build_nastc, genotype, d, c),
            f"NAS-TC (channels {width})": partial(
                NASTCNetwork, d, c, genotype, multiplier=m, **{**config.network, "channels": width}
            ),
            "Timeception": partial(config.build_timeception, d, c),
        }
        for name, build in builds.items():
            r = _curve(build, config.make_trainer("cpu"), train, val, test, checkpoints)
            key = "NAS-TC (equal TC params)" if name.startswith("NAS-TC (") else name
            row = rows.setdefault(key, {"tc": [], "test": [], "val": [], "name": []})
            row["tc"].append(r["tc"])
            row["test"].append(r["test"])
            row["val"].append(r["val"])
            row["name"].append(name)
            print(
                f"seed {seed} {name}: TC params {r['tc']:,}, test mAP "
                + " / ".join(f"{r['test'][e]:.1f}" for e in checkpoints)
                + f" at epochs {checkpoints} ({time.perf_counter() - start:.0f}s so far)",
                flush=True,
            )
    window = max(1, args.epochs // 6)
    print(
        f"\nmulti-label preset, {config.network['layers']} TC layers, {config.network['groups']} groups; search "
        f"{config.search['epochs']} epochs; training {args.epochs} epochs (Adam {config.train['lr']}); seeds "
        f"{args.seeds}; machine: {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), torch "
        f"{torch.__version__}; {time.perf_counter() - start:.0f} s\n"
    )
    head = " | ".join(f"test mAP @{e}" for e in checkpoints)
    print(f"| model | TC params | {head} | val mAP: last {window} ep. minus the {window} before |")
    print("|---|---:|" + "---:|" * len(checkpoints) + "---:|")
    for key, row in rows.items():
        params = f"{min(row['tc']):,}-{max(row['tc']):,}" if len(set(row["tc"])) > 1 else f"{row['tc'][0]:,}"
        tests = " | ".join(_mean_std([t[e] for t in row["test"]]) for e in checkpoints)
        slope = [statistics.mean(v[-window:]) - statistics.mean(v[-2 * window : -window]) for v in row["val"]]
        print(f"| {key} | {params} | {tests} | {_mean_std(slope)} |")
    for key, row in rows.items():
        print(f"  {key}: {', '.join(row['name'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default=None, help="multilabel dataset folder (default: generated in a temp dir)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the ops are tiny)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long run for the smoke test")
    parser.add_argument("--checks", action="store_true", help="long training and equal TC parameters (issue 19)")
    parser.add_argument("--epochs", type=int, default=120, help="--checks: training epochs")
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
        if args.checks:
            checks(args, raw, root)
            return
        rows: dict[str, dict[str, list]] = {}
        genotypes = []
        start = time.perf_counter()
        for seed in args.seeds:
            raw["search"]["seed"] = raw["train"]["seed"] = seed
            config = parse_nastc_config(raw, f"{CONFIG.name} (seed {seed})", data_root=root)
            result = run_experiment(config, log=lambda line: None, device="cpu")
            # Timeception with the paper's Fig. 5a reduction by M = 3 (5/3 channel growth), next to its own 1.25
            wide = parse_nastc_config({**raw, "timeception": {"reduction": 3}}, config.path, data_root=root)
            train, val, test = wide.splits()
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
