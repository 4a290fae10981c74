"""Scale-out: several `g2l-optimize search` workers on one study, with killed workers, counting what is lost.

Part 1: W workers (G2L, then evolution) run N trials each of the proxy objective against one study per storage
(PostgreSQL when ``--postgres URL`` is given, and a journal file). Part 2 (PostgreSQL only): workers train real
candidates on the synthetic tiny preset with heartbeats (1 s, grace 3 s); K of them are killed with SIGKILL in the
middle of a trial and a replacement worker is started for each. Trials lost = parameters of failed trials that
never completed afterwards + trials left RUNNING or WAITING.

Part 3 (``--faults``): a throwaway PostgreSQL cluster of its own (``.ci/postgres.sh``), ``--fault-workers`` (8)
workers training real candidates with heartbeats (2 s, grace 10 s); ``--kills`` of them are SIGKILLed mid-trial
and replaced, and the database server is stopped and started again (``--down`` seconds) in the middle of the search.
Counted: trials lost, trial numbers duplicated, COMPLETE trials without exactly one generation, worker exit codes.

    python benchmarks/scale_out.py [--postgres postgresql://user@127.0.0.1:5432/db] [--workers 4] [--faults]
"""

from __future__ import annotations

import argparse
import os
import socket
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
PG_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"


def _storage(url: str) -> optuna.storages.BaseStorage:
    return open_storage(url, create=True)


def _start(
    url: str, name: str, config: Path, sampler: str, n: int, seed: int, extra: list[str], stderr: int | None = None
) -> subprocess.Popen:
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
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL)


def _lost(study: optuna.Study) -> int:
    trials = study.get_trials()
    done = {tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE}
    # a FAIL trial without parameters never held a candidate (an orphan of a database restart)
    failed = [
        t for t in trials if t.state == TrialState.FAIL and t.params and tuple(sorted(t.params.items())) not in done
    ]
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


def _running(url: str, name: str) -> int:
    return len(optuna.load_study(study_name=name, storage=_storage(url)).get_trials(states=(TrialState.RUNNING,)))


def _complete(url: str, name: str) -> int:
    return len(optuna.load_study(study_name=name, storage=_storage(url)).get_trials(states=(TrialState.COMPLETE,)))


def _wait(predicate, timeout: float = 600) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the search did not get there")
        time.sleep(0.5)


def faults(config: Path, count: int, kills: int, n: int, down: float) -> None:
    """``count`` workers on a PostgreSQL cluster of our own; ``kills`` SIGKILLed mid-trial (and replaced) and the
    server restarted, all in the middle of the search."""
    base = tempfile.mkdtemp(prefix="g2l-faults-", dir="/tmp")
    os.chmod(base, 0o755)  # the server runs as 'postgres' when this runs as root
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pg = f"{base}/pg"
    url = subprocess.run([str(PG_SCRIPT), "start", pg, str(port)], check=True, capture_output=True, text=True)
    url = url.stdout.strip()
    try:
        name = "faults"
        optuna.create_study(storage=_storage(url), study_name=name, direction="maximize")
        beat = ["--heartbeat-interval", "2", "--grace-period", "10"]
        start = time.perf_counter()
        procs = [_start(url, name, config, "g2l", n, k, beat, subprocess.PIPE) for k in range(count)]
        total = count * n
        _wait(lambda: _complete(url, name) >= total // 4 and _running(url, name) > 0)
        for k in range(kills // 2):  # half the kills before the restart, half after
            procs[k].kill()
            procs[k].wait()
            procs.append(_start(url, name, config, "g2l", n, 100 + k, beat, subprocess.PIPE))
        _wait(lambda: _complete(url, name) >= total // 2 and _running(url, name) > 0)
        t0 = time.perf_counter()
        subprocess.run([str(PG_SCRIPT), "restart", pg, str(port), str(down)], check=True)
        outage = time.perf_counter() - t0
        _wait(lambda: _complete(url, name) >= 5 * total // 8 and _running(url, name) > 0)
        for k in range(kills // 2, kills):
            procs[k].kill()
            procs[k].wait()
            procs.append(_start(url, name, config, "g2l", n, 100 + k, beat, subprocess.PIPE))
        errors = {i: p.communicate(timeout=3600)[1].decode() for i, p in enumerate(procs) if i >= kills}
        # a killed worker's trial is failed and re-queued by the next worker that starts a trial after the grace
        # period: one more short worker, as a restarted job would be
        time.sleep(10)
        last = _start(url, name, config, "g2l", 2, 999, beat, subprocess.PIPE)
        errors[len(procs)] = last.communicate(timeout=3600)[1].decode()
        seconds = time.perf_counter() - start
        study = optuna.load_study(study_name=name, storage=_storage(url))
        trials = study.get_trials()
        numbers = [t.number for t in trials]
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        no_generation = sum(not isinstance(t.system_attrs.get(GEN), int) for t in complete)
        codes = [p.returncode for i, p in enumerate(procs) if i >= kills] + [last.returncode]
        reconnected = sum("retrying" in e for e in errors.values())
        print(
            f"postgresql: {count} workers x {n} trials (+{kills} replacements, +1 late worker x 2), {kills} SIGKILLed "
            f"mid-trial, server restarted once ({outage:.1f}s down, {reconnected} workers retried and reconnected): "
            f"{len(trials)} trials, {len(complete)} complete, "
            f"{sum(t.state == TrialState.FAIL for t in trials)} failed, lost {_lost(study)}, "
            f"duplicated {len(numbers) - len(set(numbers))}, "
            f"COMPLETE without one generation {no_generation}, worker exit codes {sorted(set(codes))}, "
            f"{seconds:.0f}s"
        )
        bad = [e[-400:] for e in errors.values() if "Traceback" in e]
        if bad:
            print("worker tracebacks:", *bad, sep="\n")
    finally:
        subprocess.run([str(PG_SCRIPT), "stop", pg], check=False)
        subprocess.run(["rm", "-rf", base], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (empty database); omit to skip")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=50, help="proxy trials per worker")
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--faults", action="store_true", help="part 3: kills and a database restart (own cluster)")
    parser.add_argument("--fault-workers", type=int, default=8)
    parser.add_argument("--fault-trials", type=int, default=6, help="trained trials per worker in part 3")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the server stays stopped in part 3")
    parser.add_argument("--skip-proxy", action="store_true", help="skip part 1 (e.g. with --faults alone)")
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
        if not args.skip_proxy:
            print(
                f"{'storage':<10} {'sampler':<10} {'workers':>7} {'trials':>7} {'expected':>9} {'duplicates':>10} "
                f"{'lost':>5} {'generation':>11} {'seconds':>8}"
            )
            if args.postgres:
                workers(args.postgres, "postgresql", proxy, args.workers, args.trials)
            workers(str(Path(tmp) / "journal.log"), "journal", proxy, args.workers, args.trials)
        if args.postgres or args.faults:
            data = generate(Path(tmp) / "tiny", "tiny", seed=0, num_videos=12)
            slow = Path(tmp) / "slow.yaml"
            slow.write_text(
                yaml.safe_dump(
                    {**base, "data": {"root": str(data)}, "training": {"epochs": 4, "batch_size": 2, "lr": 1e-3}}
                )
            )
        if args.postgres:
            killed(args.postgres, slow, args.workers, args.kills, 4)
        if args.faults:
            faults(slow, args.fault_workers, args.kills, args.fault_trials, args.down)


if __name__ == "__main__":
    main()
