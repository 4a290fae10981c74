"""Candidates per hour on one host with 1, 2 and 4 `g2l-optimize search` workers on one study (journal storage),
for torch's default threads (every worker as many threads as the host has cores), one thread per worker, and the
``--threads auto`` policy (the cores shared among the workers running on the host), side by side.

Each cell creates a fresh study and starts W workers with ``--n-trials TOTAL/W`` each on a synthetic dataset made
with ``g2l-optimize make-synthetic``; its throughput is TOTAL / the wall time from the first start to the last exit
(process start-up included: that is what a host pays). Ratios are against one worker with the default threads.

    python benchmarks/worker_throughput.py [--total 8] [--epochs 3] [--workers 1 2 4] [--model 2x6x32]
        [--settings default one auto] [--preset tiny]

``--preset gtea-like`` makes candidates of several seconds (the size of a real search's), where a worker's start-up
no longer dominates a cell.

One default worker alone is always measured (the base of every ratio); ``--settings`` chooses what else runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch
import yaml
from optuna.trial import TrialState

G2L = str(Path(sys.executable).parent / "g2l-optimize")
ROOT = Path(__file__).resolve().parents[1]


def cell(tmp: Path, config: Path, workers: int, threads: str, total: int, tag: str) -> tuple[float, int]:
    journal = tmp / f"{tag}.log"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    optuna.create_study(storage=storage, study_name="s", direction="maximize")
    argv = [G2L, "search", "--storage", str(journal), "--study-name", "s", "--config", str(config), "--device", "cpu"]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*argv, "--n-trials", str(total // workers), "--seed", str(k), "--threads", threads],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for k in range(workers)
    ]
    errors = [p.communicate(timeout=3600)[1] for p in procs]
    seconds = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {[e.decode()[-500:] for e in errors]}")
    study = optuna.load_study(study_name="s", storage=storage)
    return seconds, len(study.get_trials(states=(TrialState.COMPLETE,)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=8, help="trials per cell, shared among its workers")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--model", default="2x6x32", help="MS-TCN stages x layers x channels (default: 2x6x32)")
    parser.add_argument("--preset", default="tiny", help="make-synthetic preset of the data (default: tiny)")
    parser.add_argument(
        "--settings", nargs="+", choices=("default", "one", "auto"), default=["default", "one", "auto"],
        help="thread settings to measure (one default worker alone is always measured)",
    )  # fmt: skip
    args = parser.parse_args()
    stages, layers, channels = (int(v) for v in args.model.split("x"))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cores = torch.get_num_threads()
    named = {
        "default": (f"default ({cores} threads each)", str(cores)),
        "one": ("1 thread each", "1"),
        "auto": ("auto", "auto"),
    }
    settings = dict(named[key] for key in ["default", *[k for k in args.settings if k != "default"]])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run(
            [G2L, "make-synthetic", str(tmp / "data"), "--preset", args.preset], check=True, capture_output=True
        )
        config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
        config["data"]["root"] = str(tmp / "data")
        config["structure"] = {"default": "mstcn", "num_stages": stages, "num_layers": layers, "channels": channels}
        config["space"] = {"dilations": {"k": 2, "T": 6}}
        config["training"]["epochs"] = args.epochs
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        print(
            f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} logical CPUs, torch {torch.__version__}; "
            f"{args.total} trials per cell ({args.epochs} epochs, MS-TCN {args.model}, {args.preset} preset), "
            "journal storage"
        )
        rates: dict[tuple[str, int], float] = {}
        print(f"{'threads':<26} {'workers':>7} {'trials':>6} {'seconds':>8} {'cand/hour':>9} {'vs 1 default':>12}")
        for workers in args.workers:
            for label, threads in settings.items():
                if workers > 1 and label == named["default"][0] and "default" not in args.settings:
                    continue
                seconds, done = cell(tmp, path, workers, threads, args.total, f"{threads}-{workers}")
                rates[label, workers] = 3600 * done / seconds
                base = rates.get((next(iter(settings)), 1))
                ratio = f"{rates[label, workers] / base:.2f}x" if base else "-"
                print(
                    f"{label:<26} {workers:>7} {done:>6} {seconds:>8.1f} {rates[label, workers]:>9.0f} {ratio:>12}",
                    flush=True,
                )
        base = rates[next(iter(settings)), 1]
        best = max(rates, key=rates.get)
        print(f"best: {best[0]} x {best[1]} workers, {rates[best] / base:.2f}x one default worker (target >= 1.8x)")
        for label in settings:
            four = rates.get((label, 4))
            if four is not None:
                print(f"{label}: 4 workers {four / base:.2f}x one default worker (target >= 1.0x)")


if __name__ == "__main__":
    main()
