"""``--threads N|auto``: torch's CPU threads for every training command, shared among a host's search workers."""

from __future__ import annotations

import socket
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from g2l_automl.cli import main
from g2l_automl.cli._main import build_parser
from g2l_automl.errors import G2LError
from g2l_automl.search._run import HOST_ATTR
from g2l_automl.training import parse_threads, resolve_threads, torch_threads

TRAINING_COMMANDS = ["search", "train", "evaluate", "refine", "ensemble", "compare", "videonas", "nastc"]


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_every_training_command_takes_threads(command):
    actions = {a.dest for a in build_parser()._subparsers._group_actions[0].choices[command]._actions}
    assert "threads" in actions


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", "99999"])
def test_a_bad_thread_count_is_refused(bad, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(
            ["train", "--data", str(tmp_path), "--structure", "x.json", "--out", str(tmp_path / "o"), "--threads", bad]
        )  # noqa: E501
    assert exit_.value.code == 2 and "--threads" in capsys.readouterr().err
    with pytest.raises(G2LError):
        parse_threads(bad)


def test_the_auto_policy_shares_the_cores():
    assert resolve_threads("auto", workers_on_host=1, cores=8) == 8
    assert resolve_threads("auto", workers_on_host=3, cores=8) == 2
    assert resolve_threads("auto", workers_on_host=4, cores=2) == 1  # never 0
    assert resolve_threads(3, workers_on_host=4, cores=2) == 3  # a number is taken as given
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads("auto"):  # a command alone keeps torch's count
        assert torch.get_num_threads() == before


def test_a_busy_host_counts_as_more_sharers(monkeypatch):
    import g2l_automl.training._threads as threads_module

    monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (7.9, 6.0, 4.3))
    assert threads_module.host_share(1, own_threads=2) == 7  # 5.9 runnable threads of other jobs
    assert resolve_threads("auto", threads_module.host_share(1, 2), cores=2) == 1
    monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (2.0, 2.0, 2.0))  # only this worker's 2 threads
    assert threads_module.host_share(1, own_threads=2) == 1
    assert threads_module.host_share(4, own_threads=1) == 4


def test_search_records_its_host_and_divides_the_cores(tmp_path, tiny_data, monkeypatch):
    """Two RUNNING trials of the study on this host (this one and a neighbour's): the trial trains on half."""
    seen = []
    import g2l_automl.search._run as run_module
    import g2l_automl.training._threads as threads_module

    monkeypatch.setattr(run_module, "host_cores", lambda: 4)
    monkeypatch.setattr(threads_module, "others_load", lambda own: 0.0)  # a quiet host
    monkeypatch.setattr(
        run_module.SegmentationObjective,
        "__call__",
        lambda self, trial: seen.append(torch.get_num_threads()) or 1.0,
    )
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "studies" / "synthetic-tiny.yaml").read_text())
    config["data"]["root"] = str(tiny_data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    storage = str(tmp_path / "j.log")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    study = optuna.create_study(storage=journal, study_name="s", direction="maximize")
    neighbour = study.ask()  # another worker's trial, running on this host
    journal.set_trial_system_attr(neighbour._trial_id, HOST_ATTR, socket.gethostname())
    before = torch.get_num_threads()
    argv = ["search", "--storage", storage, "--study-name", "s", "--config", str(path), "--n-trials", "2"]
    assert main([*argv, "--device", "cpu"]) == 0
    assert seen == [2, 2] and torch.get_num_threads() == before
    trials = optuna.load_study(study_name="s", storage=journal).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert all(t.system_attrs[HOST_ATTR] for t in trials)
    assert main([*argv, "--device", "cpu", "--threads", "3"]) == 0
    assert seen[2:] == [3, 3]


def test_a_neighbour_between_trials_still_counts_until_its_stamp_is_stale(monkeypatch):
    """host_workers: RUNNING trials on this host, or workers that started a trial within the window."""
    import time

    from g2l_automl.search import _run as run_module

    study = optuna.create_study(direction="maximize")
    host = socket.gethostname()
    assert run_module.host_workers(study, host) == 1  # nobody else: this worker alone
    study._storage.set_study_system_attr(study._study_id, f"{run_module.WORKER_PREFIX}{host}/1", time.time() - 5)
    study._storage.set_study_system_attr(study._study_id, f"{run_module.WORKER_PREFIX}{host}/2", time.time() - 2)
    study._storage.set_study_system_attr(study._study_id, f"{run_module.WORKER_PREFIX}other/3", time.time())
    assert run_module.host_workers(study, host) == 2  # two recent workers here; the other host's does not count
    assert run_module.host_workers(study, host, window=3.0) == 1  # worker 1's stamp is stale for a 3 s window
    for _ in range(3):
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, run_module.HOST_ATTR, host)
    assert run_module.host_workers(study, host) == 3  # three RUNNING trials here outnumber the stamps
