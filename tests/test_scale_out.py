"""Many `g2l-optimize search` workers on one study (PostgreSQL and journal storage), killed and stopped workers,
and bad input that must leave the study untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from g2l_automl.cli import main
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.search import open_storage
from g2l_automl.spaces import space_from_dict
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]
G2L = str(Path(sys.executable).parent / "g2l-optimize")
WORKERS, PER_WORKER, POPULATION = 4, 15, 6
GEN = "G2LGeneticSampler:generation"


def _proxy_config(tmp_path: Path) -> Path:
    """MS-TCN 2 x 6 over D_g = {2^0..2^6} with the proxy objective: milliseconds a trial, no data."""
    config = {
        "data": {"root": str(tmp_path / "unused")},
        "structure": {"default": "mstcn", "num_stages": 2, "num_layers": 6, "channels": 8},
        "space": {"dilations": {"k": 2, "T": 6}},
        "objective": {"kind": "proxy", "proxy_seed": 3},
        "samplers": {
            "g2l": {"population_size": POPULATION},
            "evolution": {"population_size": POPULATION, "sample_size": 3},
        },
    }
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _create(storage: str, name: str) -> None:
    optuna.create_study(
        storage=open_storage(storage) if "://" in storage else _journal(storage), study_name=name, direction="maximize"
    )


def _journal(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def _workers(
    storage: str,
    name: str,
    config: Path,
    sampler: str,
    n: int = PER_WORKER,
    count: int = WORKERS,
    extra: tuple[str, ...] = (),
) -> list[str]:
    procs = [
        subprocess.Popen(
            [
                G2L,
                "search",
                "--storage",
                storage,
                "--study-name",
                name,
                "--config",
                str(config),
                "--sampler",
                sampler,
                "--n-trials",
                str(n),
                "--seed",
                str(k),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for k in range(count)
    ]
    try:
        outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * count, outputs
    return outputs


def _check_ga(study: optuna.Study, total: int) -> dict[int, int]:
    """No lost or duplicate trials, every COMPLETE trial in exactly one generation, sizes within M +- workers,
    elites never lost. Returns the generation sizes."""
    trials = study.get_trials()
    assert len(trials) == total and sorted(t.number for t in trials) == list(range(total))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == total
    sizes: dict[int, int] = {}
    for t in complete:
        g = t.system_attrs[GEN]
        assert isinstance(g, int)
        sizes[g] = sizes.get(g, 0) + 1
    last = max(sizes)
    for g, n in sizes.items():
        if g < last:
            assert POPULATION - WORKERS <= n <= POPULATION + WORKERS, sizes
    sampler = G2LGeneticSampler(
        space_from_dict(StructureSpec.mstcn(2, 6, channels=8), {"dilations": {"k": 2, "T": 6}}),
        population_size=POPULATION,
    )
    for g in range(1, last + 1):
        parents = sampler.select_parent(study, g)
        older = [t for t in complete if t.system_attrs[GEN] < g]
        assert max(t.value for t in older) == max(t.value for t in parents), f"elite lost at generation {g}"
    return sizes


@pytest.mark.parametrize("backend", ["postgresql", "journal"])
def test_four_workers_share_one_study(backend, tmp_path, request):
    storage = request.getfixturevalue("postgres_url") if backend == "postgresql" else str(tmp_path / "s.log")
    config = _proxy_config(tmp_path)
    suffix = f"{backend}-{os.getpid()}-{time.monotonic_ns()}"
    _create(storage, f"g2l-{suffix}")
    _workers(storage, f"g2l-{suffix}", config, "g2l")
    study = optuna.load_study(
        study_name=f"g2l-{suffix}", storage=open_storage(storage) if "://" in storage else _journal(storage)
    )
    sizes = _check_ga(study, WORKERS * PER_WORKER)
    assert len(sizes) >= 5  # enough generations for the elitism checks to mean something
    _create(storage, f"evo-{suffix}")
    _workers(storage, f"evo-{suffix}", config, "evolution")
    evo = optuna.load_study(
        study_name=f"evo-{suffix}", storage=open_storage(storage) if "://" in storage else _journal(storage)
    )
    assert sorted(t.number for t in evo.trials) == list(range(WORKERS * PER_WORKER))
    assert all(t.state == TrialState.COMPLETE for t in evo.trials)


def _slow_config(tmp_path: Path, data: Path) -> Path:
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    config["data"]["root"] = str(data)
    config["training"]["epochs"] = 6
    config["samplers"]["g2l"]["population_size"] = 3
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_running(study_name: str, storage, timeout: float = 120) -> optuna.trial.FrozenTrial:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = optuna.load_study(study_name=study_name, storage=storage).get_trials(states=(TrialState.RUNNING,))
        if running and running[0].params:  # its structure is chosen: training has begun
            return running[0]
        time.sleep(0.2)
    raise AssertionError("no trial started")


def test_a_killed_worker_loses_no_trial(postgres_url, tmp_path, tiny_data):
    name = f"kill-{os.getpid()}-{time.monotonic_ns()}"
    _create(postgres_url, name)
    config = _slow_config(tmp_path, tiny_data)
    beat = ("--heartbeat-interval", "1", "--grace-period", "3", "--device", "cpu")
    victim = subprocess.Popen(
        [
            G2L,
            "search",
            "--storage",
            postgres_url,
            "--study-name",
            name,
            "--config",
            str(config),
            "--n-trials",
            "5",
            "--seed",
            "0",
            *beat,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stale = _wait_running(name, postgres_url)
        time.sleep(0.5)
        victim.send_signal(signal.SIGKILL)  # mid-trial: the trial stays RUNNING in storage
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    _workers(postgres_url, name, config, "g2l", n=4, count=1, extra=("--seed", "1", *beat))
    study = optuna.load_study(study_name=name, storage=postgres_url)
    failed = study.trials[stale.number]
    assert failed.state == TrialState.FAIL  # marked failed by the surviving worker's heartbeat check
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == stale.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE and retried[0].params == stale.params
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert isinstance(t.system_attrs[GEN], int)  # the GA state stays consistent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_fail_the_running_trial_cleanly(sig, tmp_path, tiny_data):
    journal = str(tmp_path / "j.log")
    _create(journal, "s")
    proc = subprocess.Popen(
        [
            G2L,
            "search",
            "--storage",
            journal,
            "--study-name",
            "s",
            "--config",
            str(_slow_config(tmp_path, tiny_data)),
            "--n-trials",
            "5",
            "--device",
            "cpu",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        running = _wait_running("s", _journal(journal))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and b"interrupted" in err
    trial = optuna.load_study(study_name="s", storage=_journal(journal)).trials[running.number]
    assert trial.state == TrialState.FAIL  # not left RUNNING


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unreachable", "cannot open"),
        ("bad-type", "training.epochs"),
        ("bad-space", "space"),
        ("bad-video-name", "is not a plain file name inside the data root"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(case, message, tmp_path, tiny_data, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    _create(storage, "s")
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    data = tiny_data
    if case == "unreachable":
        storage = "postgresql://nobody@127.0.0.1:1/none"
    elif case == "bad-type":
        config["training"]["epochs"] = "five"
    elif case == "bad-space":
        config["space"] = {"dilations": {"k": 1, "T": 3}}
    elif case == "bad-video-name":
        data = tmp_path / "data"
        subprocess.run(["cp", "-r", str(tiny_data), str(data)], check=True)
        bundle = data / "splits" / "train.split1.bundle"
        bundle.write_text(bundle.read_text() + "../../escape.txt\n")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [
        "search",
        "--storage",
        storage,
        "--study-name",
        "s",
        "--config",
        str(path),
        "--data",
        str(data),
        "--n-trials",
        "2",
        "--seed-baseline",
        "--device",
        "cpu",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 2, err
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}").trials) == 0


def test_a_structure_file_with_missing_layers_is_refused(tmp_path, tiny_data, capsys):
    bad = tmp_path / "g2l.json"
    bad.write_text('{"model": {"stages.0.layers.0.conv_dilated": 1, "stages.0.layers.2.conv_dilated": 4}}')
    argv = ["train", "--data", str(tiny_data), "--structure", str(bad), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "g2l.json" in err and "stage 0 layer 1 is missing" in err
    assert not (tmp_path / "out").exists()


def test_diverging_training_fails_its_trial_and_the_worker_goes_on(tmp_path, tiny_data, capsys):
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    config["training"].update(lr=1e12, epochs=2)  # the loss becomes NaN or inf
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    storage = f"sqlite:///{tmp_path / 's.db'}"
    _create(storage, "s")
    argv = [
        "search",
        "--storage",
        storage,
        "--study-name",
        "s",
        "--config",
        str(path),
        "--data",
        str(tiny_data),
        "--n-trials",
        "3",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert len(trials) == 3
    assert any(t.state == TrialState.FAIL and "loss" in t.user_attrs.get("error", "").lower() for t in trials)
