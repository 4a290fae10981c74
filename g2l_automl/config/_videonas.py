"""``videonas`` configs (``studies/nas/videonas-multilabel.yaml``): data, space, training, differentiable search
and Optuna trials of a Video-NAS search."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from g2l_automl._checks import check_choice, check_int, check_real
from g2l_automl.config._classification import CLASSIFICATION_DATA, ClassificationConfig, check_classification_data
from g2l_automl.config._yaml import merge_section, read_sections
from g2l_automl.errors import ConfigError, G2LError

if TYPE_CHECKING:
    from g2l_automl.nas import VideoNASSearch, VideoNASSpace
    from g2l_automl.training import ClassifierTrainer

#: Samplers ``--method optuna`` accepts (all work over the space's categorical genes without a SearchSpace).
VIDEONAS_SAMPLERS: tuple[str, ...] = ("g2l", "evolution", "tpe", "random", "nsga2")

_SECTIONS: dict[str, dict[str, Any]] = {
    "data": CLASSIFICATION_DATA,
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
        "decode": "sum",  # Viterbi over widths: "sum" of path weights (paper) or "log" (most probable path)
        "retrain_init": "searched",  # retrain the decoded network from the "searched" weights or from "scratch"
    },
    "optuna": {"metric": "mAP", "sampler": "g2l", "n_trials": 20, "samplers": {}},
}


@dataclass
class VideoNASConfig(ClassificationConfig):
    """A validated ``videonas`` config; ``path`` is where it came from (used in error messages)."""

    space: VideoNASSpace
    training: dict[str, Any]
    search: dict[str, Any]
    optuna: dict[str, Any]

    @property
    def metrics(self) -> list[str]:
        metric = self.optuna["metric"]
        return [metric] if isinstance(metric, str) else list(metric)

    def trainer(self, epochs: int, device: str = "auto", seed: int | None = None) -> ClassifierTrainer:
        """A trainer of the discrete networks (``training:``) for ``epochs``."""
        from g2l_automl.training import ClassifierTrainer

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
        """The differentiable search of the ``search:`` section."""
        from g2l_automl.nas import VideoNASSearch

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
            decode=s["decode"],
            device=device,
            seed=self.training["seed"] if seed is None else seed,
        )


def _positive(path: str, field: str, value: Any, minimum: float, strict: bool = True) -> None:
    check_real(value, f"{path}: {field}", minimum, open_low=strict, error=ConfigError)


def _int_list(path: str, field: str, value: Any) -> None:
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ConfigError(f"{path}: {field}: expected a non-empty list of integers, got {value!r}")


def _space(path: str, sp: dict[str, Any]) -> VideoNASSpace:
    from g2l_automl.nas import VideoNASSpace

    check_int(sp["stem_channels"], f"{path}: space.stem_channels", 1, error=ConfigError)
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
        return VideoNASSpace(sp["widths"], sp["max_layers"], sp["ops"], sp["stem_channels"])
    except G2LError as exc:
        raise ConfigError(f"{path}: space: {exc}") from None


def _check_training(path: str, training: dict[str, Any], search: dict[str, Any]) -> None:
    for key in ("epochs", "trial_epochs", "batch_size"):
        check_int(training[key], f"{path}: training.{key}", 1, error=ConfigError)
    check_int(training["seed"], f"{path}: training.seed", 0, error=ConfigError)
    _positive(path, "training.lr", training["lr"], 0.0)
    _positive(path, "training.weight_decay", training["weight_decay"], 0.0, strict=False)
    check_real(training["dropout"], f"{path}: training.dropout", 0.0, 1.0, open_high=True, error=ConfigError)
    check_int(search["epochs"], f"{path}: search.epochs", 2, error=ConfigError)
    check_int(search["warmup_epochs"], f"{path}: search.warmup_epochs", 0, error=ConfigError)
    if search["warmup_epochs"] >= search["epochs"]:
        raise ConfigError(
            f"{path}: search.warmup_epochs: {search['warmup_epochs']} leaves no search epoch of "
            f"search.epochs={search['epochs']}"
        )
    for key in ("lr", "arch_lr"):
        _positive(path, f"search.{key}", search[key], 0.0)
    _positive(path, "search.arch_weight_decay", search["arch_weight_decay"], 0.0, strict=False)
    _positive(path, "search.flops_weight", search["flops_weight"], 0.0, strict=False)
    _positive(path, "search.flops_base", search["flops_base"], 1.0)
    check_choice(search["decode"], f"{path}: search.decode", ("sum", "log"), error=ConfigError)
    check_choice(search["retrain_init"], f"{path}: search.retrain_init", ("scratch", "searched"), error=ConfigError)


def _check_optuna(path: str, opt: dict[str, Any]) -> dict[str, Any]:
    from g2l_automl.objective import VIDEONAS_METRICS
    from g2l_automl.samplers import make_sampler

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
    check_int(opt["n_trials"], f"{path}: optuna.n_trials", 1, error=ConfigError)
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
    return {**opt, "samplers": {k: dict(v) for k, v in samplers.items()}}


def load_videonas_config(path: str | os.PathLike[str], data_root: str | None = None) -> VideoNASConfig:
    """Read and validate a ``videonas`` study config (``studies/nas/videonas-multilabel.yaml``); ``data_root``
    overrides ``data.root``. Errors name the file and the field."""
    path = str(path)
    raw = read_sections(path, _SECTIONS)
    data, sp, training, search, opt = (merge_section(path, raw, name, _SECTIONS[name]) for name in _SECTIONS)
    check_classification_data(path, data, data_root)
    space = _space(path, sp)
    _check_training(path, training, search)
    return VideoNASConfig(path, data, space, training, search, _check_optuna(path, opt))
