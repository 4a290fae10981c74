"""``g2l-optimize videonas``: Video-NAS width / depth / temporal-op search for video-level multi-label
classification, by the differentiable relaxation (search, decode, retrain, compare with the R(2+1)D-like
baseline) or by Optuna trials against a study made with ``optuna create-study``."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_device_argument, check_option
from g2l_automl.config._yaml import check_fraction, check_int, merge_section, read_sections
from g2l_automl.data import ActionSegmentationDataset, ClassificationSet, classification_splits, concat_sets
from g2l_automl.errors import ConfigError, G2LError
from g2l_automl.models import VideoNASArch
from g2l_automl.nas import VideoNASSearch, VideoNASSpace
from g2l_automl.objective import VIDEONAS_METRICS, VideoNASObjective, train_and_score
from g2l_automl.samplers import make_sampler
from g2l_automl.search import display_url, load_study
from g2l_automl.training import ClassifierTrainer

#: Samplers ``--method optuna`` accepts (all work over the space's categorical genes without a SearchSpace).
VIDEONAS_SAMPLERS: tuple[str, ...] = ("g2l", "evolution", "tpe", "random", "nsga2")

_SECTIONS: dict[str, dict[str, Any]] = {
    "data": {"root": None, "split": 1, "val_fraction": 0.25, "split_seed": 0, "steps": 64},
    "space": {
        "stem_channels": 16,
        "widths": [[16, 24, 32], [32, 48, 64], [48, 64, 96], [64, 96, 128]],
        "max_layers": [2, 3, 3, 2],
        "ops": ["dil1", "dil2", "dil4", "skip"],
    },
    # every discrete network: Optuna trials (trial_epochs), the retrained searched arch and the baseline (epochs)
    "training": {
        "epochs": 30,
        "trial_epochs": 15,
        "batch_size": 16,
        "lr": 0.01,
        "weight_decay": 0.0,
        "dropout": 0.5,
        "seed": 0,
    },
    "search": {
        "epochs": 20,
        "warmup_epochs": 8,
        "lr": 0.01,
        "arch_lr": 0.03,
        "arch_weight_decay": 0.001,
        "flops_weight": 0.05,
        "flops_base": 10.0,
    },
    "optuna": {"metric": "mAP", "sampler": "g2l", "n_trials": 20, "samplers": {}},
}


@dataclass
class VideoNASConfig:
    """A validated ``videonas`` config; ``path`` is where it came from (used in error messages)."""

    path: str
    data: dict[str, Any]
    space: VideoNASSpace
    training: dict[str, Any]
    search: dict[str, Any]
    optuna: dict[str, Any]

    @property
    def metrics(self) -> list[str]:
        metric = self.optuna["metric"]
        return [metric] if isinstance(metric, str) else list(metric)

    def trainer(self, epochs: int, device: str = "auto", seed: int | None = None) -> ClassifierTrainer:
        t = self.training
        return ClassifierTrainer(
            epochs=epochs,
            batch_size=t["batch_size"],
            lr=t["lr"],
            weight_decay=t["weight_decay"],
            device=device,
            seed=t["seed"] if seed is None else seed,
        )

    def searcher(self, device: str = "auto", seed: int | None = None) -> VideoNASSearch:
        s = self.search
        return VideoNASSearch(
            self.space,
            epochs=s["epochs"],
            warmup_epochs=s["warmup_epochs"],
            batch_size=self.training["batch_size"],
            lr=s["lr"],
            weight_decay=self.training["weight_decay"],
            arch_lr=s["arch_lr"],
            arch_weight_decay=s["arch_weight_decay"],
            flops_weight=s["flops_weight"],
            flops_base=s["flops_base"],
            dropout=self.training["dropout"],
            device=device,
            seed=self.training["seed"] if seed is None else seed,
        )


def _number(path: str, field: str, value: Any, minimum: float, strict: bool = True) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)  # not .nan
    if not ok or (value <= minimum if strict else value < minimum):
        raise ConfigError(f"{path}: {field}: must be a number {'>' if strict else '>='} {minimum}, got {value!r}")


def _int_list(path: str, field: str, value: Any) -> None:
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ConfigError(f"{path}: {field}: expected a non-empty list of integers, got {value!r}")


def load_videonas_config(path: str | os.PathLike[str], data_root: str | None = None) -> VideoNASConfig:
    """Read and validate a ``videonas`` study config (``studies/nas/videonas-multilabel.yaml``); ``data_root``
    overrides ``data.root``. Errors name the file and the field."""
    path = str(path)
    raw = read_sections(path, _SECTIONS)
    data, sp, training, search, opt = (merge_section(path, raw, name, _SECTIONS[name]) for name in _SECTIONS)
    if data_root is not None:
        data["root"] = data_root
    if not data["root"] or not isinstance(data["root"], str):
        raise ConfigError(f"{path}: data.root: missing (give it in the config or with --data)")
    for key, minimum in (("split", 1), ("split_seed", 0), ("steps", 1)):
        check_int(path, f"data.{key}", data[key], minimum)
    check_fraction(path, "data.val_fraction", data["val_fraction"])
    check_int(path, "space.stem_channels", sp["stem_channels"], 1)
    if not isinstance(sp["widths"], list) or not sp["widths"]:
        raise ConfigError(
            f"{path}: space.widths: expected one list of candidate widths per stage, got {sp['widths']!r}"
        )
    for s, widths in enumerate(sp["widths"], start=1):
        _int_list(path, f"space.widths[{s - 1}] (stage{s})", widths)
    _int_list(path, "space.max_layers", sp["max_layers"])
    if not isinstance(sp["ops"], list) or not all(isinstance(op, str) for op in sp["ops"]):
        raise ConfigError(f"{path}: space.ops: expected a list of op names, got {sp['ops']!r}")
    try:
        space = VideoNASSpace(sp["widths"], sp["max_layers"], sp["ops"], sp["stem_channels"])
    except G2LError as exc:
        raise ConfigError(f"{path}: space: {exc}") from None
    for key in ("epochs", "trial_epochs", "batch_size"):
        check_int(path, f"training.{key}", training[key], 1)
    check_int(path, "training.seed", training["seed"], 0)
    _number(path, "training.lr", training["lr"], 0.0)
    _number(path, "training.weight_decay", training["weight_decay"], 0.0, strict=False)
    if not isinstance(training["dropout"], (int, float)) or not 0.0 <= training["dropout"] < 1.0:
        raise ConfigError(f"{path}: training.dropout: must be in [0, 1), got {training['dropout']!r}")
    check_int(path, "search.epochs", search["epochs"], 2)
    check_int(path, "search.warmup_epochs", search["warmup_epochs"], 0)
    if search["warmup_epochs"] >= search["epochs"]:
        raise ConfigError(
            f"{path}: search.warmup_epochs: {search['warmup_epochs']} leaves no search epoch of "
            f"search.epochs={search['epochs']}"
        )
    for key in ("lr", "arch_lr"):
        _number(path, f"search.{key}", search[key], 0.0)
    _number(path, "search.arch_weight_decay", search["arch_weight_decay"], 0.0, strict=False)
    _number(path, "search.flops_weight", search["flops_weight"], 0.0, strict=False)
    _number(path, "search.flops_base", search["flops_base"], 1.0)
    metrics = [opt["metric"]] if isinstance(opt["metric"], str) else opt["metric"]
    if (
        not isinstance(metrics, list)
        or not metrics
        or any(m not in VIDEONAS_METRICS for m in metrics)
        or len(set(metrics)) != len(metrics)
    ):
        raise ConfigError(
            f"{path}: optuna.metric: {opt['metric']!r}; choose from {', '.join(VIDEONAS_METRICS)} (or a list of "
            "distinct ones)"
        )
    if opt["sampler"] not in VIDEONAS_SAMPLERS:
        raise ConfigError(
            f"{path}: optuna.sampler: unknown {opt['sampler']!r}; choose from {', '.join(VIDEONAS_SAMPLERS)}"
        )
    check_int(path, "optuna.n_trials", opt["n_trials"], 1)
    samplers = opt["samplers"]
    if not isinstance(samplers, Mapping) or not all(isinstance(v, Mapping) for v in samplers.values()):
        raise ConfigError(f"{path}: optuna.samplers: expected a mapping of sampler name -> options")
    for name, options in samplers.items():
        if name not in VIDEONAS_SAMPLERS:
            raise ConfigError(
                f"{path}: optuna.samplers.{name}: unknown sampler; choose from {', '.join(VIDEONAS_SAMPLERS)}"
            )
        try:
            make_sampler(name, None, options)
        except G2LError as exc:
            raise ConfigError(f"{path}: optuna.{exc}") from None
    return VideoNASConfig(
        path, data, space, training, search, {**opt, "samplers": {k: dict(v) for k, v in samplers.items()}}
    )


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Video-NAS width/depth/temporal-op search for video-level classification",
        description="Video-NAS search on video-level multi-label classification (features resampled to "
        "data.steps). --method differentiable: supernet search (BCE + lambda log_k FLOPs), Viterbi decoding, "
        "retraining of the decoded architecture and of the R(2+1)D-like baseline on train+val, test mAP. "
        "--method optuna: trials against a study made with 'optuna create-study' (directions matching "
        "optuna.metric: mAP maximize, flops/params minimize).",
    )
    p.add_argument("--config", required=True, help="e.g. studies/nas/videonas-multilabel.yaml")
    p.add_argument("--out", required=True, help="folder for results.json")
    p.add_argument("--method", choices=("differentiable", "optuna"), default="differentiable")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--storage", default=None, help="optuna: sqlite:///x.db, postgresql://..., or a journal file")
    p.add_argument("--study-name", default=None, help="optuna: the study's name")
    p.add_argument("--sampler", choices=VIDEONAS_SAMPLERS, default=None, help="optuna: default the config's")
    p.add_argument("--n-trials", type=int, default=None, help="optuna: trials for this worker (default: config's)")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (optuna) or search seed (differentiable)")
    p.add_argument(
        "--retrain",
        action="store_true",
        help="optuna: retrain the best trial(s) on train+val and score them on the test split",
    )
    add_device_argument(p)


def _splits(config: VideoNASConfig) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]:
    d = config.data
    dataset = ActionSegmentationDataset(d["root"])
    return classification_splits(dataset, d["split"], d["val_fraction"], d["split_seed"], d["steps"])


def _final(
    config: VideoNASConfig, arch: VideoNASArch, fit_on: ClassificationSet, test: ClassificationSet, device: str
) -> dict[str, Any]:
    """``arch`` retrained from scratch on ``fit_on`` for ``training.epochs`` and scored on ``test``."""
    t = config.training
    scored = train_and_score(
        arch, fit_on, test, config.trainer(t["epochs"], device), dropout=t["dropout"], seed=t["seed"]
    )
    return {
        "arch": arch.to_dict(),
        "summary": arch.summary(),
        "test_mAP": round(scored["metrics"]["mAP"], 3),
        "mflops": round(scored["flops"] / 1e6, 4),
        "params": scored["params"],
        "train_seconds": scored["train_seconds"],
    }


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    cells = [[str(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(title), *(len(c[k]) for c in cells)) for k, (title, _) in enumerate(columns)]
    lines = ["  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _run_differentiable(args: argparse.Namespace, config: VideoNASConfig) -> dict[str, Any]:
    train, val, test = _splits(config)
    result = config.searcher(args.device, args.seed).run(train, val)
    print(f"search: {len(result.history)} epochs in {result.seconds:.1f} s; decoded {result.arch.summary()}")
    full = concat_sets(train, val)
    rows = [
        {"model": "searched", **_final(config, result.arch, full, test, args.device)},
        {"model": "baseline", **_final(config, config.space.baseline(), full, test, args.device)},
    ]
    print(
        _table(
            rows,
            [("model", "model"), ("test mAP", "test_mAP"), ("MFLOPs", "mflops"), ("params", "params"),
             ("architecture", "summary")],
        )
    )  # fmt: skip
    return {"method": "differentiable", "search": result.to_dict(), "searched": rows[0], "baseline": rows[1]}


def _check_directions(study: optuna.Study, config: VideoNASConfig, storage: str, name: str) -> None:
    wanted = [VIDEONAS_METRICS[m] for m in config.metrics]
    have = [d.name.lower() for d in study.directions]
    if have != wanted:
        raise G2LError(
            f"study {name!r} has direction(s) {', '.join(have)} but {config.path}: optuna.metric "
            f"{config.metrics} needs {', '.join(wanted)}; create a study with: optuna create-study --storage "
            f"{display_url(storage)} --study-name NEW_NAME --directions {' '.join(wanted)}"
        )


def _run_optuna(args: argparse.Namespace, config: VideoNASConfig) -> dict[str, Any]:
    if not args.storage or not args.study_name:
        raise G2LError("--method optuna needs --storage and --study-name (of a study made with optuna create-study)")
    name = args.sampler or config.optuna["sampler"]
    n_trials = config.optuna["n_trials"] if args.n_trials is None else args.n_trials
    if n_trials < 1:
        raise G2LError(f"--n-trials: must be >= 1, got {n_trials}")
    sampler = make_sampler(name, None, config.optuna["samplers"].get(name), seed=args.seed)
    study = load_study(args.storage, args.study_name, sampler=sampler)
    _check_directions(study, config, args.storage, args.study_name)
    train, val, test = _splits(config)
    t = config.training
    objective = VideoNASObjective(
        config.space,
        train,
        val,
        trainer=config.trainer(t["trial_epochs"], args.device),
        metric=config.metrics,
        dropout=t["dropout"],
        model_seed=t["seed"],
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials)
    complete = [tr for tr in study.get_trials(deepcopy=False) if tr.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise G2LError(f"study {args.study_name!r}: no trial completed (see the trials' 'error' user attrs)")
    best = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    full = concat_sets(train, val) if args.retrain else None
    rows = []
    for trial in sorted(best, key=lambda tr: tr.number):
        if "arch" not in trial.user_attrs:  # a trial some other objective wrote into the study
            continue
        arch = VideoNASArch.from_dict(trial.user_attrs["arch"])
        row = {
            "trial": trial.number,
            "values": list(trial.values),
            "val_mAP": round(trial.user_attrs["metrics"]["mAP"], 3),
            "mflops": round(trial.user_attrs["flops"] / 1e6, 4),
            "params": trial.user_attrs["params"],
            "arch": arch.to_dict(),
            "summary": arch.summary(),
        }
        if full is not None:
            row["test_mAP"] = _final(config, arch, full, test, args.device)["test_mAP"]
        rows.append(row)
    if not rows:
        raise G2LError(f"study {args.study_name!r}: its best trials were not made by videonas (no 'arch' user attr)")
    columns = [("trial", "trial"), ("val mAP", "val_mAP"), ("MFLOPs", "mflops"), ("params", "params")]
    columns += [("test mAP", "test_mAP")] if full is not None else []
    print(f"study {args.study_name}: {len(complete)} complete trials; best:")
    print(_table(rows, [*columns, ("architecture", "summary")]))
    return {
        "method": "optuna",
        "study": args.study_name,
        "sampler": name,
        "metrics": config.metrics,
        "complete_trials": len(complete),
        "best": rows,
    }


def run(args: argparse.Namespace) -> int:
    check_option("--n-trials", args.n_trials, 1)
    check_out_dir(args.out)  # before the search, not after it
    config = load_videonas_config(args.config, data_root=args.data)
    results = _run_differentiable(args, config) if args.method == "differentiable" else _run_optuna(args, config)
    results.update(config=config.path, space=config.space.to_dict())
    out = Path(args.out)
    write_json_atomic(out / "results.json", results)
    print(f"wrote {out / 'results.json'}")
    return 0
