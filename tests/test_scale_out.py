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
from _cli import cli_argv
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
        storage=open_storage(storage, create=True) if "://" in storage else _journal(storage),
        study_name=name,
        direction="maximize",
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


def _slow_config(tmp_path: Path, data: Path, epochs: int = 6) -> Path:
    """The tiny config on ``data`` with ``epochs`` epochs a candidate and a G2L population of 3."""
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    config["data"]["root"] = str(data)
    config["training"]["epochs"] = epochs
    config["samplers"]["g2l"]["population_size"] = 3
    path = tmp_path / f"slow{epochs}.yaml"
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
    # the retry re-runs what the killed trial had stored (it may have died before its last suggestion)
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert failed.params and failed.params.items() <= retried[0].params.items()
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
        # a background job of a non-interactive shell (e.g. CI started with `&`) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        running = _wait_running("s", _journal(journal))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and b"interrupted" in err, (proc.returncode, err[-2000:])
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


def _lost(study: optuna.Study) -> int:
    """Parameters of FAIL trials that never completed afterwards + trials left RUNNING or WAITING. A FAIL trial
    without parameters never held a candidate (an orphan of a database restart, failed by the stale check)."""
    trials = study.get_trials()
    done = {tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE}
    failed = [
        t for t in trials if t.state == TrialState.FAIL and t.params and tuple(sorted(t.params.items())) not in done
    ]
    return len(failed) + sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)


def test_workers_survive_kills_and_a_database_restart(restartable_postgres, tmp_path, tiny_data):
    """Smaller than benchmarks/scale_out.py --faults: 4 workers, 1 SIGKILLed mid-trial (and replaced), the server
    stopped and started mid-search. No trial is lost or duplicated, every COMPLETE trial is in one generation."""
    url, restart = restartable_postgres
    name = "faults"
    _create(url, name)
    path = _slow_config(tmp_path, tiny_data, epochs=2)
    beat = ["--heartbeat-interval", "1", "--grace-period", "6", "--device", "cpu"]

    def start(seed: int) -> subprocess.Popen:
        argv = [G2L, "search", "--storage", url, "--study-name", name, "--config", str(path), "--n-trials", "4"]
        return subprocess.Popen([*argv, "--seed", str(seed), *beat], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    procs = [start(k) for k in range(4)]
    try:
        _wait_running(name, url)
        time.sleep(1.0)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)
        procs.append(start(100))
        _wait_running(name, url)
        restart(1.0)  # every worker is cut off mid-trial or mid-query; the storage reconnects
        errors = [p.communicate(timeout=600)[1].decode() for p in procs[1:]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs[1:]] == [0] * 4, errors
    assert any("retrying" in e for e in errors)  # the restart was seen, and survived
    # the killed worker's trial is failed and re-queued by the next worker that starts a trial after the grace period
    time.sleep(6)
    _workers(url, name, path, "g2l", n=2, count=1, extra=("--seed", "7", *beat))
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert _lost(study) == 0, [(t.number, t.state.name, t.system_attrs.get("failed_trial")) for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= 4 * 4
    assert all(isinstance(t.system_attrs[GEN], int) for t in complete)


def _tiny_search(tmp_path: Path, data: Path, n: int, out: Path | None = None) -> tuple[int, str]:
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    config["training"]["epochs"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    storage = str(tmp_path / "j.log")
    _create(storage, "s")
    argv = cli_argv(
        "search", storage=storage, study_name="s", config=path, data=data, n_trials=n, device="cpu", out=out
    )
    return main(argv), storage


def test_a_full_disk_fails_its_trial_alone(tmp_path, tiny_data, monkeypatch, one_torch_thread):
    """A write inside trial 1 fails with ENOSPC: that trial FAILs with the error recorded, the others complete."""
    import errno

    from g2l_automl.training import Trainer

    fit, calls = Trainer.epochs_of, []

    def full_disk_once(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ckpt"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "epochs_of", full_disk_once)
    code, storage = _tiny_search(tmp_path, tiny_data, 4)
    assert code == 0
    trials = optuna.load_study(study_name="s", storage=_journal(storage)).trials
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3
    assert "No space left" in trials[1].system_attrs.get("fail_reason", "") + trials[1].user_attrs.get("error", "")


def test_out_removed_or_full_mid_search_does_not_stop_the_worker(tmp_path, tiny_data, monkeypatch, capsys):
    """--out holds the best so far during a search: removed mid-search it is made again; when it cannot be written
    (ENOSPC) every trial still completes and the worker ends with one line saying so."""
    import errno
    import shutil

    from g2l_automl.cli import _search
    from g2l_automl.training import Trainer

    out = tmp_path / "out"
    fit, calls = Trainer.epochs_of, []

    def remove_out(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            assert (out / "best_structure.json").exists()  # trial 0 was saved as the best so far
            shutil.rmtree(out)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "epochs_of", remove_out)
    code, storage = _tiny_search(tmp_path, tiny_data, 3, out)
    assert code == 0 and (out / "best_structure.json").exists()

    def no_space(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "best_structure.json"))

    monkeypatch.setattr(_search, "save_structure", no_space)
    capsys.readouterr()
    assert main(
        ["search", "--storage", storage, "--study-name", "s", "--config", str(tmp_path / "c.yaml"), "--data",
         str(tiny_data), "--n-trials", "2", "--device", "cpu", "--out", str(out)]
    ) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--out" in err
    trials = optuna.load_study(study_name="s", storage=_journal(storage)).trials
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)


def test_a_trial_that_never_had_a_heartbeat_is_failed_after_the_grace_period(tmp_path):
    """A trial whose creation committed while its reply was lost (the worker's retry made another one) never gets
    a heartbeat; the stale-trial check fails it once it is older than the grace period, and only then."""
    import datetime

    import sqlalchemy

    from g2l_automl.search._storage import ReconnectingRDBStorage

    url = f"sqlite:///{tmp_path / 'h.db'}"
    storage = ReconnectingRDBStorage(url, heartbeat_interval=1, grace_period=5)
    study = optuna.create_study(storage=storage, study_name="h", direction="maximize")
    sid = study._study_id
    orphan, young, beating = (storage.create_new_trial(sid) for _ in range(3))
    storage.record_heartbeat(beating)
    engine = sqlalchemy.create_engine(url)
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=60)
    with engine.begin() as conn:  # the orphan and the beating trial started a minute ago
        conn.execute(
            sqlalchemy.text("UPDATE trials SET datetime_start = :t WHERE trial_id IN (:a, :b)"),
            {"t": past, "a": orphan, "b": beating},
        )
    assert storage._get_stale_trial_ids(sid) == [orphan]
    optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]
