"""Video-NAS searches from a :class:`~g2l_automl.config.VideoNASConfig`: the differentiable relaxation (search,
decode, retrain, compare with the R(2+1)D-like baseline) or Optuna trials against a study in storage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optuna.trial import TrialState

from g2l_automl import _attrs as attrs
from g2l_automl.config import VideoNASConfig
from g2l_automl.data import ClassificationSet, concat_sets
from g2l_automl.errors import G2LError
from g2l_automl.objective import VideoNASObjective, check_study_directions, train_and_score
from g2l_automl.samplers import make_sampler
from g2l_automl.search._storage import display_url, load_study
from g2l_automl.structure import VideoNASArch


def retrain_videonas(
    config: VideoNASConfig,
    arch: VideoNASArch,
    fit_on: ClassificationSet,
    test: ClassificationSet,
    device: str,
    init_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``arch`` retrained from scratch (or from ``init_state``, e.g. the searched weights) on ``fit_on`` for
    ``training.epochs`` and scored on ``test``: a results row (``arch``, ``summary``, ``test_mAP``, ``mflops``,
    ``params``, ``train_seconds``)."""
    t = config.training
    scored = train_and_score(
        arch,
        fit_on,
        test,
        config.trainer(t["epochs"], device),
        dropout=t["dropout"],
        seed=t["seed"],
        init_state=init_state,
    )
    return {
        "arch": arch.to_dict(),
        "summary": arch.summary(),
        "test_mAP": round(scored["metrics"]["mAP"], 3),
        "mflops": round(scored["flops"] / 1e6, 4),
        "params": scored["params"],
        "train_seconds": scored["train_seconds"],
    }


def format_columns(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``rows`` as aligned text columns; ``columns`` are ``(title, key)`` pairs."""
    cells = [[str(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(title), *(len(c[k]) for c in cells)) for k, (title, _) in enumerate(columns)]
    lines = ["  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def run_videonas_differentiable(
    config: VideoNASConfig, device: str = "auto", seed: int | None = None, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Supernet search, Viterbi decoding, then the decoded architecture and the baseline retrained on train+val
    and scored on the test split; the results as a dict."""
    train, val, test = config.splits()
    result = config.searcher(device, seed).run(train, val)
    log(f"search: {len(result.history)} epochs in {result.seconds:.1f} s; decoded {result.arch.summary()}")
    full = concat_sets(train, val)
    searched = result.weights if config.search["retrain_init"] == "searched" else None
    rows = [
        {"model": "searched", **retrain_videonas(config, result.arch, full, test, device, searched)},
        {"model": "baseline", **retrain_videonas(config, config.space.baseline(), full, test, device)},
    ]
    log(
        format_columns(
            rows,
            [("model", "model"), ("test mAP", "test_mAP"), ("MFLOPs", "mflops"), ("params", "params"),
             ("architecture", "summary")],
        )
    )  # fmt: skip
    return {"method": "differentiable", "search": result.to_dict(), "searched": rows[0], "baseline": rows[1]}


def run_videonas_optuna(
    config: VideoNASConfig,
    storage: str,
    study_name: str,
    sampler: str | None = None,
    n_trials: int | None = None,
    seed: int | None = None,
    retrain: bool = False,
    device: str = "auto",
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Trials of :class:`~g2l_automl.objective.VideoNASObjective` against an existing study (directions matching
    ``optuna.metric``), then its best trial(s), retrained on train+val and scored on the test split with
    ``retrain``; the results as a dict."""
    name = sampler or config.optuna["sampler"]
    n_trials = config.optuna["n_trials"] if n_trials is None else n_trials
    if n_trials < 1:
        raise G2LError(f"--n-trials: must be >= 1, got {n_trials}")
    study = load_study(storage, study_name, sampler=make_sampler(name, None, config.optuna["samplers"].get(name), seed))
    train, val, test = config.splits()
    t = config.training
    objective = VideoNASObjective(
        config.space,
        train,
        val,
        trainer=config.trainer(t["trial_epochs"], device),
        metric=config.metrics,
        dropout=t["dropout"],
        model_seed=t["seed"],
    )
    check_study_directions(study, objective, f"{config.path}: optuna.metric", display_url(storage))
    study.optimize(objective, n_trials=n_trials)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise G2LError(f"study {study_name!r}: no trial completed (see the trials' 'error' user attrs)")
    best = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    full = concat_sets(train, val) if retrain else None
    rows = []
    for trial in sorted(best, key=lambda tr: tr.number):
        if attrs.ARCH not in trial.user_attrs:  # a trial some other objective wrote into the study
            continue
        arch = VideoNASArch.from_dict(trial.user_attrs[attrs.ARCH])
        row = {
            "trial": trial.number,
            "values": list(trial.values),
            "val_mAP": round(trial.user_attrs[attrs.METRICS]["mAP"], 3),
            "mflops": round(trial.user_attrs[attrs.FLOPS] / 1e6, 4),
            "params": trial.user_attrs[attrs.PARAMS],
            "arch": arch.to_dict(),
            "summary": arch.summary(),
        }
        if full is not None:
            row["test_mAP"] = retrain_videonas(config, arch, full, test, device)["test_mAP"]
        rows.append(row)
    if not rows:
        raise G2LError(f"study {study_name!r}: its best trials were not made by videonas (no 'arch' user attr)")
    columns = [("trial", "trial"), ("val mAP", "val_mAP"), ("MFLOPs", "mflops"), ("params", "params")]
    columns += [("test mAP", "test_mAP")] if full is not None else []
    log(f"study {study_name}: {len(complete)} complete trials; best:")
    log(format_columns(rows, [*columns, ("architecture", "summary")]))
    return {
        "method": "optuna",
        "study": study_name,
        "sampler": name,
        "metrics": config.metrics,
        "complete_trials": len(complete),
        "best": rows,
    }
