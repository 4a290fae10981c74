"""The NAS-TC experiment (NAS-TC Table III in kind): search a cell with Temp-DARTS, retrain the NAS-TC network with
it from scratch, train the Timeception baseline the same way, and score both on the test split."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from g2l_automl.data import ClassificationSet
from g2l_automl.models import TemporalNetwork
from g2l_automl.nas._temp_darts import TempDARTSSearch
from g2l_automl.structure import Genotype
from g2l_automl.training import ClassifierTrainer, evaluate_classifier


class NASTCExperiment(Protocol):
    """What :func:`run_experiment` needs of its config (:class:`~g2l_automl.config.NASTCConfig` gives it)."""

    path: str

    def splits(self) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]: ...

    def make_search(self, device: str = "auto") -> TempDARTSSearch: ...

    def make_trainer(self, device: str = "auto") -> ClassifierTrainer: ...

    def build_nastc(self, genotype: Genotype, input_dim: int, num_classes: int) -> TemporalNetwork: ...

    def build_timeception(self, input_dim: int, num_classes: int) -> TemporalNetwork: ...


def train_and_score(
    build: Callable[[], TemporalNetwork],
    trainer: ClassifierTrainer,
    train: ClassificationSet,
    val: ClassificationSet,
    test: ClassificationSet,
) -> dict[str, Any]:
    """Build (weights drawn under the trainer's seed) and train a network, then score it on ``test``."""
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
    config: NASTCExperiment,
    genotype: Genotype | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Search (unless ``genotype`` is given), retrain NAS-TC, train Timeception; the results as a dict."""
    train, val, test = config.splits()
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
