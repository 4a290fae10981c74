"""``g2l-optimize nastc``: search a NAS-TC cell with Temp-DARTS, retrain the NAS-TC network with it from scratch,
train the Timeception baseline the same way, and compare both on the test split (NAS-TC Table III in kind)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_device_argument
from g2l_automl.config._yaml import check_fraction, check_int, check_sections, merge_section, read_sections
from g2l_automl.data import ActionSegmentationDataset, ClassificationSet, classification_splits
from g2l_automl.errors import ConfigError, G2LError
from g2l_automl.models._nastc import Genotype, NASTCNetwork, TemporalNetwork, load_genotype, save_genotype
from g2l_automl.models._timeception import TimeceptionNetwork
from g2l_automl.nas._temp_darts import TempDARTSSearch
from g2l_automl.training import ClassifierTrainer

_SECTIONS: dict[str, dict[str, Any]] = {
    "data": {"root": None, "split": 1, "val_fraction": 0.25, "split_seed": 0, "steps": 64},
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
class NASTCConfig:
    """A validated ``nastc`` config; ``path`` is where it came from (used in error messages)."""

    path: str
    data: dict[str, Any]
    network: dict[str, Any]
    nastc: dict[str, Any]
    timeception: dict[str, Any]
    search: dict[str, Any]
    train: dict[str, Any]

    def make_search(self, device: str = "auto") -> TempDARTSSearch:
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
        return NASTCNetwork(input_dim, num_classes, genotype, multiplier=self.nastc["multiplier"], **self.network)

    def build_timeception(self, input_dim: int, num_classes: int) -> TimeceptionNetwork:
        return TimeceptionNetwork(input_dim, num_classes, reduction=self.timeception["reduction"], **self.network)


def parse_nastc_config(raw: Any, path: str = "<config>", data_root: str | None = None) -> NASTCConfig:
    """Validate a ``nastc`` config mapping; errors name ``path`` and the field. ``data_root`` overrides
    ``data.root``."""
    raw = check_sections(path, raw, _SECTIONS)
    sections = {name: merge_section(path, raw, name, defaults) for name, defaults in _SECTIONS.items()}
    d = sections["data"]
    if data_root is not None:
        d["root"] = data_root
    if not d["root"] or not isinstance(d["root"], (str, os.PathLike)):
        raise ConfigError(f"{path}: data.root: missing (give it in the config or with --data)")
    check_int(path, "data.split", d["split"], 1)
    check_int(path, "data.split_seed", d["split_seed"], 0)
    check_int(path, "data.steps", d["steps"], 2)
    check_fraction(path, "data.val_fraction", d["val_fraction"])
    for where in ("nastc.nodes", "nastc.multiplier", "timeception.reduction"):
        section, key = where.split(".")
        check_int(path, where, sections[section][key], 1)
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


def load_splits(config: NASTCConfig) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]:
    """``(train, val, test)``: validation carved out of the train list of ``data.split``, test its test list."""
    d = config.data
    dataset = ActionSegmentationDataset(d["root"])
    return classification_splits(dataset, d["split"], d["val_fraction"], d["split_seed"], d["steps"])


def train_and_score(
    build: Callable[[], TemporalNetwork],
    trainer: ClassifierTrainer,
    train: ClassificationSet,
    val: ClassificationSet,
    test: ClassificationSet,
) -> dict[str, Any]:
    """Build (weights drawn under the trainer's seed) and train a network, then score it on ``test``."""
    from g2l_automl.training import evaluate_classifier

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(trainer.seed)
        model = build()
    start = time.perf_counter()
    history = trainer.fit(model, train, val)
    seconds = time.perf_counter() - start
    return {
        "tc_parameters": model.tc_parameters(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test": evaluate_classifier(model, test),
        "val": history[-1]["val"],
        "train_seconds": round(seconds, 3),
        "history": history,
    }


def run_experiment(
    config: NASTCConfig,
    genotype: Genotype | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Search (unless ``genotype`` is given), retrain NAS-TC, train Timeception; the results as a dict."""
    train, val, test = load_splits(config)
    log(f"{len(train)} train / {len(val)} val / {len(test)} test videos, {train.num_classes} classes")
    result: dict[str, Any] = {"config": config.path, "search": None}
    if genotype is None:
        search = config.make_search(device)

        def report(epoch: int, logs: dict[str, Any]) -> None:
            arch = f"  arch loss {logs['arch_loss']:.4f}" if "arch_loss" in logs else ""
            val_map = logs["val"]["mAP"]
            log(f"search epoch {epoch:3d}/{search.epochs}  loss {logs['loss']:.4f}{arch}  val mAP {val_map:5.1f}")

        found = search.run(train, val, callback=report)
        genotype = found.genotype
        result["search"] = found.to_dict()
        log(f"searched in {found.seconds:.1f}s: {genotype.to_dict()['nodes']}")
    result["genotype"] = genotype.to_dict()
    input_dim, classes = train.input_dim, train.num_classes
    result["models"] = {
        "NAS-TC": train_and_score(
            lambda: config.build_nastc(genotype, input_dim, classes), config.make_trainer(device), train, val, test
        ),
        "Timeception": train_and_score(
            lambda: config.build_timeception(input_dim, classes), config.make_trainer(device), train, val, test
        ),
    }
    return result


def format_results(result: Mapping[str, Any]) -> str:
    """The comparison as a markdown table: model, TC params, test mAP, seconds."""
    lines = ["| model | TC params | test mAP (%) | seconds |", "|---|---:|---:|---:|"]
    search = result.get("search")
    for name, r in result["models"].items():
        seconds = r["train_seconds"]
        note = f"{seconds:.1f}"
        if name == "NAS-TC" and search:
            note = f"{search['seconds']:.1f} search + {seconds:.1f} train"
        lines.append(f"| {name} | {r['tc_parameters']:,} | {r['test']['mAP']:.1f} | {note} |")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="NAS-TC: Temp-DARTS cell search, retraining, and the Timeception comparison",
        description="Search a temporal cell with Temp-DARTS on the validation videos (skipped with --genotype), "
        "retrain the NAS-TC network with it from scratch, train the Timeception baseline with the same layers, "
        "and score both on the test split (video-level multi-label mAP). Writes results.json and genotype.json "
        "to --out.",
    )
    p.add_argument("--config", required=True, help="nastc YAML config (e.g. studies/nas/nastc-multilabel.yaml)")
    p.add_argument("--data", default=None, help="dataset folder; overrides data.root of the config")
    p.add_argument("--genotype", default=None, help="genotype JSON to retrain instead of searching one")
    add_device_argument(p)
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out)  # before the search, not after it
    config = load_nastc_config(args.config, args.data)
    genotype = load_genotype(args.genotype) if args.genotype else None
    out = Path(args.out)
    result = run_experiment(config, genotype, args.device, log=lambda line: print(line, flush=True))
    save_genotype(Genotype.from_dict(result["genotype"]), out / "genotype.json")
    write_json_atomic(out / "results.json", result)
    print(f"\n{format_results(result)}\n\nsaved {out / 'results.json'} and {out / 'genotype.json'}")
    return 0
