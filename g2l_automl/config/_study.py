"""Study configs (``studies/*.yaml``): data, base structure, search space, training, objective and samplers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from g2l_automl._checks import check_int, check_real
from g2l_automl.config._yaml import merge_section, read_sections
from g2l_automl.errors import ConfigError, G2LError
from g2l_automl.spaces import SearchSpace, space_from_dict
from g2l_automl.structure import StructureSpec, load_structure

if TYPE_CHECKING:  # torch is imported when a trainer is made, not with the config
    from g2l_automl.egi import EGILocalSearch
    from g2l_automl.training import Trainer

_SECTIONS = {"data", "structure", "space", "training", "objective", "samplers", "search", "refine", "pruner"}
_DATA = {
    "root": None,
    "split": 1,
    "sample_rate": 1,
    "bg_classes": ["background"],
    "val_fraction": 0.25,
    "split_seed": 0,
}
_TRAINING = {"epochs": 5, "batch_size": 8, "lr": 5e-4, "seed": 0, "amp": True}
#: ``kind: proxy`` replaces candidate training by :class:`~g2l_automl.objective.ProxyObjective` (no data read;
#: for trying samplers and workers out in seconds).
#: ``repeats``/``rotate_val``/``common_seeds``/``rescore_top``: noise control of the fitness (see
#: SegmentationObjective).
_OBJECTIVE = {
    "kind": "segmentation",
    "metric": "F1@10",
    "report": "F1@10",
    "refine": False,
    "proxy_seed": 0,
    "repeats": 1,
    "rotate_val": False,
    "common_seeds": True,
    "rescore_top": 0,
}
_SEARCH = {"sampler": "g2l", "n_trials": 100, "timeout": None}
#: EGI local search settings (G2L Sec. 4.1: S=3, dD=0.1 D, update every 3 epochs, 30 epochs) and refine's top-K.
#: ``rounding: round`` is the unbiased Eq. 6 (``floor``, as printed, drifts down); ``stop_when_converged: false``
#: runs every update (Alg. 2) instead of stopping at the first one that moves no dilation.
_REFINE = {
    "method": "egi",
    "num_candidates": 3,
    "delta": 0.1,
    "min_delta": 1,
    "interval": 3,
    "epochs": 30,
    "rounding": "round",
    "normalize": "abs",
    "max_dilation": 2048,
    "stop_when_converged": True,
    "top": 5,
}
_PRUNER = {
    "name": "none",
    "population_size": None,
    "checkpoints": None,
    "rule": None,
    "reduction_factor": None,
    "min_resource": None,
    "min_trials": None,
    "n_startup_trials": 5,
    "n_warmup_steps": 0,
}


@dataclass
class StudyConfig:
    """A parsed and validated study config; ``path`` is where it came from (used in error messages)."""

    path: str
    data: dict[str, Any]
    structure: StructureSpec
    space: SearchSpace
    training: dict[str, Any]
    objective: dict[str, Any]
    samplers: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    refine: dict[str, Any] = field(default_factory=lambda: dict(_REFINE))
    pruner: dict[str, Any] = field(default_factory=lambda: dict(_PRUNER))
    raw: dict[str, Any] = field(default_factory=dict)

    def trainer(self, device: str = "auto", epochs: int | None = None) -> Trainer:
        """The trainer of the ``training:`` section (``epochs`` overrides ``training.epochs``)."""
        from g2l_automl.training import Trainer

        t = self.training
        return Trainer(
            epochs=t["epochs"] if epochs is None else epochs,
            batch_size=t["batch_size"],
            lr=t["lr"],
            device=device,
            amp=t["amp"],
            seed=t["seed"],
            progress=False,
        )

    def local_search(self, device: str = "auto", **changes: Any) -> EGILocalSearch:
        """The EGI (or DARTS) local search of the ``refine:`` section; ``changes`` override its settings (None
        keeps them)."""
        from g2l_automl.egi import EGILocalSearch

        options = {k: v for k, v in self.refine.items() if k != "top"}
        options.update({k: v for k, v in changes.items() if v is not None})
        return EGILocalSearch(**options, trainer=self.trainer(device), seed=self.training["seed"])

    @property
    def population_size(self) -> int:
        """M of the G2L sampler (``samplers.g2l.population_size``, else the sampler's default): the pruners'
        population."""
        given = self.samplers.get("g2l", {}).get("population_size")
        return _default_population_size() if given is None else given


def _default_population_size() -> int:
    import inspect

    from g2l_automl.samplers import G2LGeneticSampler

    return inspect.signature(G2LGeneticSampler).parameters["population_size"].default


def _structure(path: str, data: Any, base_dir: Path) -> StructureSpec:
    if not isinstance(data, Mapping) or ("default" in data) == ("file" in data):
        raise ConfigError(f"{path}: structure: give either 'default: mstcn|mstcn++' (with options) or 'file: PATH'")
    options = {k: v for k, v in data.items() if k not in ("default", "file")}
    try:
        if "file" in data:
            if options:
                raise ConfigError(f"{path}: structure: 'file' takes no options, got {', '.join(options)}")
            file = Path(str(data["file"]))
            return load_structure(file if file.is_absolute() else base_dir / file)
        builders = {"mstcn": StructureSpec.mstcn, "mstcn++": StructureSpec.mstcn_pp}
        if data["default"] not in builders:
            raise ConfigError(f"{path}: structure.default: unknown {data['default']!r}; choose mstcn or mstcn++")
        return builders[data["default"]](**options)
    except TypeError as exc:
        raise ConfigError(f"{path}: structure: {exc}") from None
    except ConfigError:
        raise
    except G2LError as exc:
        raise ConfigError(f"{path}: structure: {exc}") from None


def load_config(path: str | os.PathLike[str], data_root: str | None = None) -> StudyConfig:
    """Read and validate a study config; ``data_root`` overrides ``data.root``. Errors name the file and field.

    Relative ``data.root`` and ``structure.file`` paths are resolved against the current directory and the
    config's folder respectively.
    """
    path = str(path)
    raw = read_sections(path, _SECTIONS)
    data = merge_section(path, raw, "data", _DATA)
    if data_root is not None:
        data["root"] = data_root
    if not data["root"]:
        raise ConfigError(f"{path}: data.root: missing (give it in the config or with --data)")
    if not isinstance(data["root"], (str, os.PathLike)):
        raise ConfigError(f"{path}: data.root: expected the path of the dataset folder, got {data['root']!r}")
    structure = _structure(path, raw.get("structure", {"default": "mstcn"}), Path(path).parent)
    if "space" not in raw:
        raise ConfigError(f"{path}: space: missing; e.g. 'space: {{dilations: {{k: 2, T: 10}}}}'")
    try:
        space = space_from_dict(structure, raw["space"])
    except G2LError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    samplers = raw.get("samplers") or {}
    if not isinstance(samplers, Mapping) or not all(isinstance(v, Mapping) for v in samplers.values()):
        raise ConfigError(f"{path}: samplers: expected a mapping of sampler name -> options")
    config = StudyConfig(
        path=path,
        data=data,
        structure=structure,
        space=space,
        training=merge_section(path, raw, "training", _TRAINING),
        objective=merge_section(path, raw, "objective", _OBJECTIVE),
        samplers={str(k): dict(v) for k, v in samplers.items()},
        search=merge_section(path, raw, "search", _SEARCH),
        refine=merge_section(path, raw, "refine", _REFINE),
        pruner=merge_section(path, raw, "pruner", _PRUNER),
        raw=dict(raw),
    )
    _check_values(config)
    return config


def _check_values(config: StudyConfig) -> None:
    """Build what the config describes once (trainer, samplers), so bad values fail here, naming the field."""
    from g2l_automl.metrics import METRIC_NAMES
    from g2l_automl.objective import EXTRA_METRICS, REPORT_METRICS, check_rescore_top
    from g2l_automl.samplers import SAMPLERS, make_sampler
    from g2l_automl.training import Trainer

    path, d, o, s = config.path, config.data, config.objective, config.search
    check_real(
        d["val_fraction"], f"{path}: data.val_fraction", 0.0, 1.0, open_low=True, open_high=True, error=ConfigError
    )
    for key in ("split", "sample_rate"):
        check_int(d[key], f"{path}: data.{key}", 1, error=ConfigError)
    if not isinstance(d["bg_classes"], list) or not all(isinstance(c, str) for c in d["bg_classes"]):
        raise ConfigError(f"{path}: data.bg_classes: expected a list of class names, got {d['bg_classes']!r}")
    try:
        Trainer(**{k: config.training[k] for k in ("epochs", "batch_size", "lr", "seed", "amp")})
    except G2LError as exc:
        raise ConfigError(f"{path}: training.{exc}") from None
    if o["kind"] not in ("segmentation", "proxy"):
        raise ConfigError(f"{path}: objective.kind: {o['kind']!r}; choose segmentation or proxy")
    check_int(o["proxy_seed"], f"{path}: objective.proxy_seed", 0, error=ConfigError)
    metrics = [o["metric"]] if isinstance(o["metric"], str) else o["metric"]
    known = METRIC_NAMES + EXTRA_METRICS
    if not isinstance(metrics, list) or not metrics or any(m not in known for m in metrics):
        raise ConfigError(f"{path}: objective.metric: {o['metric']!r}; choose from {', '.join(known)} (or a list)")
    if o["report"] not in REPORT_METRICS:
        raise ConfigError(f"{path}: objective.report: {o['report']!r}; choose from {', '.join(REPORT_METRICS)}")
    if s["sampler"] not in SAMPLERS:
        raise ConfigError(f"{path}: search.sampler: unknown {s['sampler']!r}; choose from {', '.join(SAMPLERS)}")
    check_int(s["n_trials"], f"{path}: search.n_trials", 1, error=ConfigError)
    if s["timeout"] is not None:  # seconds
        check_real(s["timeout"], f"{path}: search.timeout", 0.0, open_low=True, error=ConfigError)
    from g2l_automl.pruners import make_pruner

    try:
        config.local_search()
    except G2LError as exc:
        raise ConfigError(f"{path}: refine.{exc}") from None
    check_int(config.refine["top"], f"{path}: refine.top", 1, error=ConfigError)
    check_int(o["repeats"], f"{path}: objective.repeats", 1, error=ConfigError)
    try:
        check_rescore_top(o["rescore_top"], metrics)
    except G2LError as exc:
        raise ConfigError(f"{path}: objective.{exc}") from None
    for key in ("refine", "rotate_val", "common_seeds"):
        if not isinstance(o[key], bool):
            raise ConfigError(f"{path}: objective.{key}: must be true or false, got {o[key]!r}")
    try:
        make_pruner(config.pruner, config.population_size)
    except (G2LError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: pruner.{exc}") from None
    for name, options in config.samplers.items():
        if name not in SAMPLERS:
            raise ConfigError(f"{path}: samplers.{name}: unknown sampler; choose from {', '.join(SAMPLERS)}")
        try:
            make_sampler(name, config.space, options)
        except G2LError as exc:
            raise ConfigError(f"{path}: {exc}") from None
