"""One search worker: a study config + a study in Optuna storage -> trials, and a summary of the best."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from g2l_automl.config import StudyConfig
from g2l_automl.data import ActionSegmentationDataset
from g2l_automl.egi import EGILocalSearch
from g2l_automl.errors import G2LError
from g2l_automl.objective import ProxyObjective, SegmentationObjective
from g2l_automl.pruners import make_pruner
from g2l_automl.samplers import make_sampler
from g2l_automl.search._storage import display_url, load_study
from g2l_automl.structure import LayerSpec, StructureSpec
from g2l_automl.training import Trainer

_LOWER_IS_BETTER = {"params", "flops"}  # every other metric (F1, Edit, Acc, proxy) is maximised


def _check_directions(study: optuna.Study, metrics: tuple[str, ...]) -> None:
    if len(study.directions) != len(metrics):
        raise G2LError(
            f"study {study.study_name!r} has {len(study.directions)} objective(s) but the config's objective.metric "
            f"gives {len(metrics)} ({', '.join(metrics)})"
        )
    for name, direction in zip(metrics, study.directions, strict=True):
        want = StudyDirection.MINIMIZE if name in _LOWER_IS_BETTER else StudyDirection.MAXIMIZE
        if direction != want:
            raise G2LError(
                f"study {study.study_name!r} has direction {direction.name.lower()} but metric {name} should be "
                f"{want.name.lower()}d; create the study with --direction{'s' if len(metrics) > 1 else ''} "
                + " ".join("minimize" if m in _LOWER_IS_BETTER else "maximize" for m in metrics)
            )


def config_trainer(config: StudyConfig, device: str, epochs: int | None = None) -> Trainer:
    """The trainer of ``config``'s ``training:`` section (``epochs`` overrides ``training.epochs``)."""
    t = config.training
    return Trainer(
        epochs=t["epochs"] if epochs is None else epochs,
        batch_size=t["batch_size"],
        lr=t["lr"],
        device=device,
        amp=t["amp"],
        seed=t["seed"],
        progress=False,
    )


def make_local_search(config: StudyConfig, device: str = "auto", **changes: Any) -> EGILocalSearch:
    """The config's EGI (or DARTS) local search; ``changes`` override ``refine:`` settings (None keeps them)."""
    options = {k: v for k, v in config.refine.items() if k != "top"}
    options.update({k: v for k, v in changes.items() if v is not None})
    return EGILocalSearch(**options, trainer=config_trainer(config, device), seed=config.training["seed"])


def build_objective(config: StudyConfig, device: str = "auto") -> SegmentationObjective | ProxyObjective:
    """The config's objective on the config's dataset (or the proxy objective for ``objective.kind: proxy``)."""
    d, o = config.data, config.objective
    if o["kind"] == "proxy":
        return ProxyObjective(config.space, seed=o["proxy_seed"])
    dataset = ActionSegmentationDataset(d["root"], sample_rate=d["sample_rate"], bg_classes=tuple(d["bg_classes"]))
    trainer = config_trainer(config, device)
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
        refine=make_local_search(config, device) if o["refine"] else None,
        repeats=o["repeats"],
        rotate_val=o["rotate_val"],
        common_seeds=o["common_seeds"],
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
        status = f"FAILED ({trial.user_attrs.get('error', trial.system_attrs.get('fail_reason', 'see log'))})"
    else:
        status = trial.state.name
    line = f"trial {trial.number:4d}  {status}"
    if "structure" in trial.user_attrs:
        spec = StructureSpec.from_dict(trial.user_attrs["structure"])
        line += "  dilations " + format_dilations(spec.dilations())
    if "duplicate_of" in trial.user_attrs:
        line += f"  (same structure as trial {trial.user_attrs['duplicate_of']}: its value, not trained again)"
    elif "train_seconds" in trial.user_attrs:
        line += f"  ({trial.user_attrs['train_seconds']:.1f}s)"
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
) -> optuna.Study:
    """Run trials of the config's objective against an existing study until ``n_trials`` (of this worker) or
    ``timeout`` seconds; returns the study. Several workers may run this against one storage at once.

    With ``heartbeat_interval`` (RDB storage only) a running trial beats every that many seconds; a worker that
    starts a trial fails any trial whose heartbeat is older than ``grace_period`` (its worker died) and re-queues
    its parameters, up to ``max_retry`` times, so a killed worker loses no work."""
    name = sampler or config.search["sampler"]
    sampler_obj = make_sampler(name, config.space, config.samplers.get(name), seed)
    # No pruning unless the config or --pruner asks: a pruned candidate belongs to no population.
    pruner_options = dict(config.pruner, **({"name": pruner} if pruner else {}))
    population = config.samplers.get("g2l", {}).get("population_size", 50)
    heartbeat = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period, "max_retry": max_retry}
    study = load_study(
        storage, study_name, sampler=sampler_obj, pruner=make_pruner(pruner_options, population), **heartbeat
    )
    objective = build_objective(config, device)
    _check_directions(study, objective.metrics)
    if isinstance(objective, SegmentationObjective):
        objective.videos()  # read the data first, so data errors stop the worker with nothing written
    if seed_baseline:
        try:
            params = config.space.to_params(config.structure)
        except G2LError as exc:
            raise G2LError(f"--seed-baseline: the base structure is not in the search space: {exc}") from None
        study.enqueue_trial(params, user_attrs={"baseline": config.structure.name}, skip_if_exists=True)
    n = n_trials if n_trials is not None else config.search["n_trials"]
    timeout = timeout if timeout is not None else config.search["timeout"]
    log(
        f"study {study_name!r} in {display_url(storage)}: sampler {name}, up to {n} trials"
        + (f" or {timeout:.0f}s" if timeout else "")
    )
    study.optimize(
        objective,
        n_trials=n,
        timeout=timeout,
        catch=(Exception,),
        callbacks=[lambda _study, trial: log(describe(trial))],
    )
    return study


def best_summary(study: optuna.Study) -> str:
    """The best trial(s): values, validation metrics and structure."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return "no trial has completed yet"
    lines = []
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    for trial in best:
        metrics = trial.user_attrs.get("metrics", {})
        shown = "  ".join(f"{k} {v:.1f}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v))
        lines.append(f"best trial {trial.number}: value {', '.join(f'{v:.2f}' for v in trial.values)}")
        lines.append(f"  validation: {shown}")
        if "structure" in trial.user_attrs:
            spec = StructureSpec.from_dict(trial.user_attrs["structure"])
            for s, stage in enumerate(spec.dilations()):
                lines.append(f"  stage {s} dilations: {stage}  (receptive field {spec.receptive_field(s)} frames)")
                if any(layer.op != "conv" or layer.kernel_size != 3 for layer in spec.stages[s].layers):
                    lines.append(f"  stage {s} ops: {format_ops(spec.stages[s].layers)}")
    lines.append(f"{len(complete)} complete trials of {len(study.trials)}")
    return "\n".join(lines)
