"""``nastc`` configs (``studies/nas/nastc-multilabel.yaml``): data, the retrained networks (NAS-TC and the
Timeception baseline), the Temp-DARTS search and the training."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from g2l_automl._checks import check_int
from g2l_automl.config._classification import CLASSIFICATION_DATA, ClassificationConfig, check_classification_data
from g2l_automl.config._yaml import check_sections, merge_section, read_sections
from g2l_automl.errors import ConfigError, G2LError

if TYPE_CHECKING:
    from g2l_automl.models import NASTCNetwork, TimeceptionNetwork
    from g2l_automl.nas import TempDARTSSearch
    from g2l_automl.structure import Genotype
    from g2l_automl.training import ClassifierTrainer

_SECTIONS: dict[str, dict[str, Any]] = {
    "data": CLASSIFICATION_DATA,
    # the retrained networks, shared by NAS-TC and Timeception (same layers, groups and input width)
    "network": {"layers": 3, "groups": 4, "channels": 96, "hidden": 256, "dropout": 0.0},
    "nastc": {"nodes": 4, "multiplier": 3},
    "timeception": {"reduction": 4},
    # the supernet may be smaller than the retrained network, as in DARTS
    "search": {
        "layers": 2,
        "groups": 2,
        "channels": 32,
        "epochs": 12,
        "warmup": 4,
        "batch_size": 16,
        "lr": 0.003,
        "arch_lr": 0.003,
        "arch_weight_decay": 0.001,
        "seed": 0,
    },
    "train": {"epochs": 30, "batch_size": 16, "lr": 0.003, "weight_decay": 0.0, "seed": 0},
}


@dataclass
class NASTCConfig(ClassificationConfig):
    """A validated ``nastc`` config; ``path`` is where it came from (used in error messages)."""

    network: dict[str, Any]
    nastc: dict[str, Any]
    timeception: dict[str, Any]
    search: dict[str, Any]
    train: dict[str, Any]

    def make_search(self, device: str = "auto") -> TempDARTSSearch:
        """The Temp-DARTS cell search of the ``search:`` section."""
        from g2l_automl.nas import TempDARTSSearch

        s = self.search
        return TempDARTSSearch(
            layers=s["layers"],
            groups=s["groups"],
            channels=s["channels"],
            nodes=self.nastc["nodes"],
            multiplier=self.nastc["multiplier"],
            hidden=self.network["hidden"],
            dropout=self.network["dropout"],
            epochs=s["epochs"],
            warmup=s["warmup"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            arch_lr=s["arch_lr"],
            arch_weight_decay=s["arch_weight_decay"],
            device=device,
            seed=s["seed"],
        )

    def make_trainer(self, device: str = "auto") -> ClassifierTrainer:
        """The trainer of both retrained networks (``train:``)."""
        from g2l_automl.training import ClassifierTrainer

        t = self.train
        return ClassifierTrainer(
            epochs=t["epochs"],
            batch_size=t["batch_size"],
            lr=t["lr"],
            weight_decay=t["weight_decay"],
            device=device,
            seed=t["seed"],
        )

    # the `network` section (layers, groups, channels, hidden, dropout) is shared by both retrained networks
    def build_nastc(self, genotype: Genotype, input_dim: int, num_classes: int) -> NASTCNetwork:
        """The NAS-TC network of ``genotype``."""
        from g2l_automl.models import NASTCNetwork

        return NASTCNetwork(input_dim, num_classes, genotype, multiplier=self.nastc["multiplier"], **self.network)

    def build_timeception(self, input_dim: int, num_classes: int) -> TimeceptionNetwork:
        """The Timeception baseline with the same layers."""
        from g2l_automl.models import TimeceptionNetwork

        return TimeceptionNetwork(input_dim, num_classes, reduction=self.timeception["reduction"], **self.network)


def parse_nastc_config(raw: Any, path: str = "<config>", data_root: str | None = None) -> NASTCConfig:
    """Validate a ``nastc`` config mapping; errors name ``path`` and the field. ``data_root`` overrides
    ``data.root``."""
    from g2l_automl.structure import Genotype

    raw = check_sections(path, raw, _SECTIONS)
    sections = {name: merge_section(path, raw, name, defaults) for name, defaults in _SECTIONS.items()}
    check_classification_data(path, sections["data"], data_root, min_steps=2)
    for where in ("nastc.nodes", "nastc.multiplier", "timeception.reduction"):
        section, key = where.split(".")
        check_int(sections[section][key], f"{path}: {where}", 1, error=ConfigError)
    config = NASTCConfig(path=path, **sections)
    # build each part once on a tiny shape, so that a bad value fails here and names its section
    placeholder = Genotype(((("identity", 0), ("identity", 1)),) * config.nastc["nodes"])
    checks: list[tuple[str, Callable[[], Any]]] = [
        ("network", lambda: config.build_nastc(placeholder, 1, 1)),
        ("timeception", lambda: config.build_timeception(1, 1)),
        ("search", lambda: config.make_search("cpu")),
        ("train", lambda: config.make_trainer("cpu")),
    ]
    for section, check in checks:
        try:
            check()
        except (G2LError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {section}.{exc}") from None
    return config


def load_nastc_config(path: str | os.PathLike[str], data_root: str | None = None) -> NASTCConfig:
    """Read and validate a ``nastc`` YAML config (see ``studies/nas/nastc-multilabel.yaml``)."""
    path = str(path)
    return parse_nastc_config(read_sections(path, _SECTIONS), path, data_root)
