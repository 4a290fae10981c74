"""One search worker: a study config + a study in Optuna storage -> trials, and a summary of the best."""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import torch
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from g2l_automl import _attrs as attrs
from g2l_automl.config import StudyConfig
from g2l_automl.data import ActionSegmentationDataset
from g2l_automl.egi import EGILocalSearch
from g2l_automl.errors import G2LError
from g2l_automl.objective import ProxyObjective, SegmentationObjective, check_study_directions
from g2l_automl.pruners import make_pruner
from g2l_automl.samplers import make_sampler
from g2l_automl.search._storage import display_url, load_study
from g2l_automl.structure import LayerSpec
from g2l_automl.training import Trainer, host_cores, host_share, resolve_threads, set_threads

HOST_ATTR = "g2l:host"  # system attr: the host a trial runs on, so workers can count their neighbours
THREADS_ATTR = "g2l:threads"  # system attr: the torch threads the trial trained on
#: Study system attr prefix: ``g2l:worker:<host>/<pid>`` -> the time that worker last started a trial.
WORKER_PREFIX = "g2l:worker:"
#: A worker that started a trial this recently still counts as a neighbour between its trials: one thread too few
#: costs about 5 % on 2 cores, one too many (oversubscription) up to 8x (RESULTS.md, "Workers sharing a host").
WORKER_WINDOW_S = 30.0


def _check_space(study: optuna.Study, config: StudyConfig, encoding: str, storage: str) -> None:
    """The config's search space must be the one the study's trials were drawn from: Optuna would otherwise fail
    every trial with a "dynamic value space" error. One COMPLETE trial's distributions are compared, once."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    trial = next((t for t in done if t.distributions), None)
    if trial is None:
        return
    genes = {g.name: g for g in config.space.genes}
    for name, have in trial.distributions.items():
        gene = genes.get(name)
        if gene is None:
            want = None
        elif encoding == "index":
            want = IntDistribution(0, len(gene.choices) - 1)
        else:
            want = CategoricalDistribution(gene.choices)
        if want != have:
            given = "no such parameter" if want is None else f"{want}"
            raise G2LError(
                f"{config.path}: space: does not match study {study.study_name!r} in {display_url(storage)}: its "
                f"trial {trial.number} has {name} {have}, the config {given}; search a changed space in a new study"
            )


def config_trainer(config: StudyConfig, device: str, epochs: int | None = None) -> Trainer:
    """The trainer of ``config``'s ``training:`` section (:meth:`StudyConfig.trainer`)."""
    return config.trainer(device, epochs)


def make_local_search(config: StudyConfig, device: str = "auto", **changes: Any) -> EGILocalSearch:
    """The config's EGI (or DARTS) local search (:meth:`StudyConfig.local_search`)."""
    return config.local_search(device, **changes)


def build_objective(config: StudyConfig, device: str = "auto") -> SegmentationObjective | ProxyObjective:
    """The config's objective on the config's dataset (or the proxy objective for ``objective.kind: proxy``)."""
    d, o = config.data, config.objective
    if o["kind"] == "proxy":
        return ProxyObjective(config.space, seed=o["proxy_seed"])
    dataset = ActionSegmentationDataset(d["root"], sample_rate=d["sample_rate"], bg_classes=tuple(d["bg_classes"]))
    trainer = config.trainer(device)
    return SegmentationObjective(
        dataset,
        config.space,
        trainer=trainer,
        split=d["split"],
        val_fraction=d["val_fraction"],
        split_seed=d["split_seed"],
        metric=o["metric"],
        report=o["report"],
        model_seed=config.training["seed"],
        refine=config.local_search(device) if o["refine"] else None,
        repeats=o["repeats"],
        rotate_val=o["rotate_val"],
        common_seeds=o["common_seeds"],
        rescore_top=o["rescore_top"],
    )


def format_dilations(dilations: list[list[Any]]) -> str:
    """``1 2 4 | 1 2 4``: one group per stage."""
    return " | ".join(" ".join(str(d) for d in stage) for stage in dilations)


def format_ops(layers: Sequence[LayerSpec]) -> str:
    """``tgm:5 conv:3 parallel(sep_conv:3+tgm:9)``: each layer's op and temporal kernel length."""
    out = []
    for layer in layers:
        if layer.branches:
            out.append("parallel(" + "+".join(f"{op}:{k}" for op, k in layer.branches) + ")")
        else:
            out.append(f"{layer.op}:{layer.kernel_size}")
    return " ".join(out)


def describe(trial: FrozenTrial) -> str:
    """One line per trial: number, state, values, key metrics and the dilations of each stage."""
    if trial.state == TrialState.COMPLETE:
        values = ", ".join(f"{v:.2f}" for v in trial.values)
        status = f"value {values}"
    elif trial.state == TrialState.FAIL:
        status = f"FAILED ({attrs.trial_error(trial) or 'see log'})"
    else:
        status = trial.state.name
    line = f"trial {trial.number:4d}  {status}"
    spec = attrs.trial_structure(trial)  # refined in the trial: the refined one, whose value it is
    if spec is not None:
        line += "  dilations " + format_dilations(spec.dilations())
    if attrs.DUPLICATE_OF in trial.user_attrs:
        line += f"  (same structure as trial {trial.user_attrs[attrs.DUPLICATE_OF]}: its value, not trained again)"
    elif attrs.TRAIN_SECONDS in trial.user_attrs:
        line += f"  ({trial.user_attrs[attrs.TRAIN_SECONDS]:.1f}s)"
    return line


def run_search(
    config: StudyConfig,
    storage: str,
    study_name: str,
    sampler: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    seed_baseline: bool = False,
    device: str = "auto",
    pruner: str | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int = 3,
    log: Callable[[str], Any] = print,
    threads: int | str | None = "auto",
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], Any]] = (),
    prepare: Callable[[optuna.Study], Any] | None = None,
) -> optuna.Study:
    """Run trials of the config's objective against an existing study until ``n_trials`` (of this worker) or
    ``timeout`` seconds; returns the study. Several workers may run this against one storage at once.

    With ``heartbeat_interval`` (RDB storage only) a running trial beats every that many seconds; a worker that
    starts a trial fails any trial whose heartbeat is older than ``grace_period`` (its worker died) and re-queues
    its parameters, up to ``max_retry`` times, so a killed worker loses no work.

    ``threads`` (``auto``, the default): each trial trains on the host's cores divided among the workers of this
    study on this host at its start (:func:`host_workers`: a RUNNING trial there, or a worker that started or
    began a trial there in the last 30 s; each trial records its host and threads in the ``g2l:host`` and
    ``g2l:threads`` system attrs, each worker its last start in the study system attr ``g2l:worker:<host>/<pid>``);
    an integer fixes the count. A trial failed by another worker meanwhile (its heartbeat went stale, e.g. while the
    database restarted) is logged and skipped, and ``callbacks`` (run after each trial's log line) that fail with
    an OSError (a full disk, a vanished folder) are reported on stderr: neither ends the worker."""
    name = sampler or config.search["sampler"]
    sampler_obj = make_sampler(name, config.space, config.samplers.get(name), seed)
    # No pruning unless the config or --pruner asks: a pruned candidate belongs to no population.
    pruner_options = dict(config.pruner, **({"name": pruner} if pruner else {}))
    heartbeat = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period, "max_retry": max_retry}
    study = load_study(
        storage,
        study_name,
        sampler=sampler_obj,
        pruner=make_pruner(pruner_options, config.population_size),
        **heartbeat,
    )
    stamp = _worker_stamp(study)
    if threads is None or threads == "auto":
        stamp()  # early, so that a neighbour started at the same moment sees this worker
    objective = build_objective(config, device)
    check_study_directions(study, objective, f"{config.path}: objective.metric", display_url(storage))
    _check_space(study, config, getattr(objective, "encoding", "categorical"), storage)
    if isinstance(objective, SegmentationObjective):
        objective.videos()  # read the data first, so data errors stop the worker with nothing written
    if seed_baseline:
        try:
            params = config.space.to_params(config.structure)
        except G2LError as exc:
            raise G2LError(f"--seed-baseline: the base structure is not in the search space: {exc}") from None
        study.enqueue_trial(params, user_attrs={attrs.BASELINE: config.structure.name}, skip_if_exists=True)
    if prepare is not None:  # e.g. a warm start's enqueued structures, once the study and data are checked
        prepare(study)
    n = n_trials if n_trials is not None else config.search["n_trials"]
    timeout = timeout if timeout is not None else config.search["timeout"]
    log(
        f"study {study_name!r} in {display_url(storage)}: sampler {name}, up to {n} trials"
        + (f" or {timeout:.0f}s" if timeout else "")
    )
    done = 0

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal done
        done += 1
        for step in (lambda: log(describe(trial)), *(lambda c=c: c(study, trial) for c in callbacks)):
            try:
                step()
            except OSError as exc:  # e.g. ENOSPC on the log file or --out: the trial is stored, the worker goes on
                _warn(f"trial {trial.number}: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")

    func = _with_threads(objective, study, threads, stamp)
    start = time.monotonic()
    while done < n:
        left = None if timeout is None else timeout - (time.monotonic() - start)
        if left is not None and left <= 0:
            break
        try:
            study.optimize(func, n_trials=n - done, timeout=left, catch=(Exception,), callbacks=[after_trial])
            break
        except optuna.exceptions.StorageInternalError as exc:  # the database stayed away past the retries
            cause = exc.__cause__ or exc
            first = next((line for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
            raise G2LError(
                f"storage: {display_url(storage)}: lost after {done} trials of this worker ({first}); the running "
                f"trial is failed by the next worker's heartbeat check, restart this worker to go on"
            ) from None
        except ValueError as exc:  # Optuna's tell: "Cannot tell a FAIL trial." - another worker failed it
            if not str(exc).startswith("Cannot tell a"):
                raise
            done += 1
            _warn(f"{exc} It was failed by another worker (stale heartbeat); its parameters were re-queued")
    return study


def _warn(message: str) -> None:
    try:
        print(f"warning: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


def _with_threads(
    objective: Callable[[optuna.Trial], Any],
    study: optuna.Study,
    threads: int | str | None,
    stamp: Callable[[], None],
) -> Callable[[optuna.Trial], Any]:
    """``objective`` run on :func:`resolve_threads`'s torch threads: for ``auto``, the cores shared among this
    study's workers on this host (:func:`host_workers`; ``stamp`` marks this worker active) or the host's other
    load if higher (:func:`host_share`), counted at the trial's start."""
    host = socket.gethostname()
    cores = host_cores()

    def run(trial: optuna.Trial) -> Any:
        workers = 1
        if threads is None or threads == "auto":
            study._storage.set_trial_system_attr(trial._trial_id, HOST_ATTR, host)
            stamp()
            workers = host_share(host_workers(study, host), torch.get_num_threads())
        count = resolve_threads(threads, workers, cores)
        study._storage.set_trial_system_attr(trial._trial_id, THREADS_ATTR, count)
        set_threads(count)
        return objective(trial)

    return run


def _worker_stamp(study: optuna.Study) -> Callable[[], None]:
    """A function that records this worker (host and pid) as active in ``study`` now (see :func:`host_workers`);
    a stamp younger than a third of the window is not rewritten (each write takes the storage's lock)."""
    key = f"{WORKER_PREFIX}{socket.gethostname()}/{os.getpid()}"
    last = -math.inf

    def stamp() -> None:
        nonlocal last
        now = time.time()
        if now - last >= WORKER_WINDOW_S / 3:
            study._storage.set_study_system_attr(study._study_id, key, now)
            last = now

    return stamp


def host_workers(study: optuna.Study, host: str, window: float = WORKER_WINDOW_S) -> int:
    """This study's workers on ``host``: those with a RUNNING trial there, plus those that started a trial there
    in the last ``window`` seconds (a neighbour between two trials still shares the cores), at least 1."""
    running = sum(
        t.system_attrs.get(HOST_ATTR) == host for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    )
    now = time.time()
    prefix = f"{WORKER_PREFIX}{host}/"
    recent = sum(
        1
        for key, stamp in study._storage.get_study_system_attrs(study._study_id).items()
        if key.startswith(prefix) and isinstance(stamp, (int, float)) and now - stamp <= window
    )
    return max(1, running, recent)


def best_summary(study: optuna.Study) -> str:
    """The best trial(s): values, validation metrics and structure."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return "no trial has completed yet"
    lines = []
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    for trial in best:
        metrics = attrs.trial_metrics(trial)
        shown = "  ".join(f"{k} {v:.1f}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v))
        lines.append(f"best trial {trial.number}: value {', '.join(f'{v:.2f}' for v in trial.values)}")
        lines.append(f"  validation: {shown}")
        spec = attrs.trial_structure(trial)
        if spec is not None:
            for s, stage in enumerate(spec.dilations()):
                lines.append(f"  stage {s} dilations: {stage}  (receptive field {spec.receptive_field(s)} frames)")
                if any(layer.op != "conv" or layer.kernel_size != 3 for layer in spec.stages[s].layers):
                    lines.append(f"  stage {s} ops: {format_ops(spec.stages[s].layers)}")
    lines.append(f"{len(complete)} complete trials of {len(study.trials)}")
    return "\n".join(lines)
