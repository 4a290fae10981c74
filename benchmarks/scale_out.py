"""Scale-out: several `g2l-optimize search` workers on one study, with killed workers, counting what is lost.

Part 1: W workers (G2L, then evolution) run N trials each of the proxy objective against one study per storage
(PostgreSQL when ``--postgres URL`` is given, and a journal file). Part 2 (PostgreSQL only): workers train real
candidates on the synthetic tiny preset with heartbeats (1 s, grace 3 s); K of them are killed with SIGKILL in the
middle of a trial and a replacement worker is started for each. Trials lost = parameters of failed trials that
never completed afterwards + trials left RUNNING or WAITING.

    python benchmarks/scale_out.py [--postgres postgresql://user@127.0.0.1:5432/db] [--workers 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from g2l_automl.data import generate
from g2l_automl.search import open_storage

G2L = str(Path(sys.executable).parent / "g2l-optimize")
GEN = "G2LGeneticSampler:generation"


def _storage(url: str) -> optuna.storages.BaseStorage:
    return open_storage(url, create=True)


def _start(url: str, name: str, config: Path, sampler: str, n: int, seed: int, extra: list[str]) -> subprocess.Popen:
    argv = [
        G2L,
        "search",
        "--storage",
        url,
        "--study-name",
        name,
        "--config",
        str(config),
        "--sampler",
        sampler,
        "--n-trials",
        str(n),
        "--seed",
        str(seed),
        "--device",
        "cpu",
        *extra,
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _lost(study: optuna.Study) -> int:
    trials = study.get_trials()
    done = {tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE}
    failed = [t for t in trials if t.state == TrialState.FAIL and tuple(sorted(t.params.items())) not in done]
    return len(failed) + sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)


def workers(url: str, label: str, config: Path, count: int, n: int) -> None:
    for sampler in ("g2l", "evolution"):
        name = f"{sampler}-{time.monotonic_ns()}"
        optuna.create_study(storage=_storage(url), study_name=name, direction="maximize")
        start = time.perf_counter()
        procs = [_start(url, name, config, sampler, n, k, []) for k in range(count)]
        codes = [p.wait(timeout=1800) for p in procs]
        seconds = time.perf_counter() - start
        study = optuna.load_study(study_name=name, storage=_storage(url))
        trials = study.get_trials()
        numbers = sorted(t.number for t in trials)
        sizes: dict[int, int] = {}
        for t in trials:
            if t.state == TrialState.COMPLETE and GEN in t.system_attrs:
                sizes[t.system_attrs[GEN]] = sizes.get(t.system_attrs[GEN], 0) + 1
        full = [sizes[g] for g in sorted(sizes)[:-1]]  # the last generation may still be filling
        gens = f"{min(full)}-{max(full)}" if full else "-"
        print(
            f"{label:<10} {sampler:<10} {count:>7} {len(trials):>7} {count * n:>9} "
            f"{len(numbers) - len(set(numbers)):>10} {_lost(study):>5} {gens:>11} {seconds:>8.1f}"
            + ("" if set(codes) == {0} else f"  exit codes {codes}")
        )


def killed(url: str, config: Path, count: int, kills: int, n: int) -> None:
    name = f"kill-{time.monotonic_ns()}"
    optuna.create_study(storage=_storage(url), study_name=name, direction="maximize")
    beat = ["--heartbeat-interval", "1", "--grace-period", "3"]
    procs = [_start(url, name, config, "g2l", n, k, beat) for k in range(count)]
    killed_trials = 0
    for victim in procs[:kills]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not optuna.load_study(study_name=name, storage=_storage(url)).get_trials(
            states=(TrialState.RUNNING,)
        ):
            time.sleep(0.2)
        time.sleep(1.0)
        victim.kill()
        victim.wait()
        killed_trials += 1
        procs.append(_start(url, name, config, "g2l", n, 100 + killed_trials, beat))
    for p in procs[kills:]:
        p.wait(timeout=1800)
    study = optuna.load_study(study_name=name, storage=_storage(url))
    trials = study.get_trials()
    stale = [t for t in trials if t.state == TrialState.FAIL]
    retried = [t for t in trials if "failed_trial" in t.system_attrs and t.state == TrialState.COMPLETE]
    print(
        f"{count} workers, {kills} killed with SIGKILL mid-trial, {kills} replacements: {len(trials)} trials, "
        f"{len(stale)} failed by heartbeat, {len(retried)} retried to COMPLETE, lost {_lost(study)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (empty database); omit to skip")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=50, help="proxy trials per worker")
    parser.add_argument("--kills", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        base = {
            "structure": {"default": "mstcn", "num_stages": 2, "num_layers": 6, "channels": 8},
            "space": {"dilations": {"k": 2, "T": 6}},
            "samplers": {"g2l": {"population_size": 6}, "evolution": {"population_size": 6, "sample_size": 3}},
        }
        proxy = Path(tmp) / "proxy.yaml"
        proxy.write_text(yaml.safe_dump({**base, "data": {"root": tmp}, "objective": {"kind": "proxy"}}))
        print(
            f"{'storage':<10} {'sampler':<10} {'workers':>7} {'trials':>7} {'expected':>9} {'duplicates':>10} "
            f"{'lost':>5} {'generation':>11} {'seconds':>8}"
        )
        if args.postgres:
            workers(args.postgres, "postgresql", proxy, args.workers, args.trials)
        workers(str(Path(tmp) / "journal.log"), "journal", proxy, args.workers, args.trials)
        if args.postgres:
            data = generate(Path(tmp) / "tiny", "tiny", seed=0, num_videos=12)
            slow = Path(tmp) / "slow.yaml"
            slow.write_text(
                yaml.safe_dump(
                    {**base, "data": {"root": str(data)}, "training": {"epochs": 4, "batch_size": 2, "lr": 1e-3}}
                )
            )
            killed(args.postgres, slow, args.workers, args.kills, 4)


if __name__ == "__main__":
    main()
