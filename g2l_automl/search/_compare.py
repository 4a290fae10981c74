"""An honest final comparison: the searched structure(s) against the config's hand-designed base structure (MS-TCN's
2^i), each trained with K paired seeds on the split's whole train list and scored on its test list.

Verdict rule (per searched structure and metric): the K per-seed differences ``d_i = searched_i - baseline_i`` are
paired (seed i trains both arms with the same model seed, dropout seed and batch order); with their mean ``m``, their
sample standard deviation ``s`` (ddof=1) and the standard error ``se = s / sqrt(K)``, the searched structure is
"better" on the metric when ``m > 2 se``, "worse" when ``m < -2 se``, and otherwise "inconclusive (difference within
the seed spread)". A difference of exactly 0 (the same architecture on both arms) is always inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from g2l_automl._attrs import is_refined, trial_structure
from g2l_automl._checks import check_int
from g2l_automl.config import StudyConfig
from g2l_automl.errors import G2LError
from g2l_automl.metrics import METRIC_NAMES
from g2l_automl.samplers import sort_best_first
from g2l_automl.search._ensemble import (
    architecture_key,
    load_test_split,
    summarize_structure,
    train_and_score,
)
from g2l_automl.search._run import config_trainer
from g2l_automl.structure import StructureSpec
from g2l_automl.training import replace_trainer, resolve_device

#: A searched structure is better (worse) on a metric when its mean paired difference exceeds this many standard
#: errors of the mean (above zero, or below).
VERDICT_SIGMAS = 2.0
INCONCLUSIVE = "inconclusive (difference within the seed spread)"
VERDICT_RULE = (
    "per metric, with the K paired per-seed differences d (searched - baseline): better if mean(d) > 2 std(d)/sqrt(K), "
    "worse if mean(d) < -2 std(d)/sqrt(K), else inconclusive (difference within the seed spread); std with ddof=1"
)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) of ``values``.

    Example:
        >>> mean_std([40.0, 42.0, 44.0])
        (42.0, 2.0)
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise G2LError("mean_std: no values")
    return float(data.mean()), (float(data.std(ddof=1)) if data.size > 1 else 0.0)


def verdict(mean: float, std: float, k: int) -> str:
    """``better``, ``worse`` or :data:`INCONCLUSIVE` for a mean paired difference ``mean`` with spread ``std`` over
    ``k`` seeds (the rule in the module docstring).

    Example:
        >>> verdict(6.8, 1.9, 3), verdict(-6.8, 1.9, 3), verdict(1.0, 1.9, 3)
        ('better', 'worse', 'inconclusive (difference within the seed spread)')
        >>> verdict(0.0, 0.0, 3)
        'inconclusive (difference within the seed spread)'
    """
    margin = VERDICT_SIGMAS * std / math.sqrt(k)
    if mean > margin:
        return "better"
    if mean < -margin:
        return "worse"
    return INCONCLUSIVE


def baseline_label(spec: StructureSpec) -> str:
    """``baseline (2^i)`` when every stage is plain convolutions with dilations 1, 2, 4, ... (MS-TCN), else
    ``baseline (<structure name>)``."""
    plain = all(layer.op == "conv" for _, _, layer in spec.layers())
    if plain and all(d == [2**i for i in range(len(d))] for d in spec.dilations()):
        return "baseline (2^i)"
    return f"baseline ({spec.name})"


@dataclass(frozen=True)
class Arm:
    """One structure to train: its label in the table, the structure, where it came from (``config``, ``trial N``
    or a file path), and for a study trial its number and search value."""

    label: str
    structure: StructureSpec
    source: str
    trial: int | None = None
    value: float | None = None


def study_arms(study: optuna.Study) -> list[Arm]:
    """The structures of a search study to compare: the best COMPLETE search trial and, when the study has refined
    trials (user attr ``refined_from``, added by ``g2l-optimize refine``), the best refined trial; "best" is by
    value in the study's direction. A refined best with the same architecture as the search best is not added again.

    Multi-objective studies are refused: there is no single best trial; give the structures to compare (e.g. of
    Pareto-front trials) as files instead.

    Example:
        >>> s = [StructureSpec.mstcn(1, 2, channels=8).with_layer(0, 0, dilation=d).to_dict() for d in (1, 3, 5)]
        >>> study = optuna.create_study(direction="maximize")
        >>> for value, structure, attrs in [(50.0, s[0], {}), (70.0, s[1], {}), (75.0, s[2], {"refined_from": 1})]:
        ...     study.add_trial(optuna.trial.create_trial(value=value, user_attrs={"structure": structure, **attrs}))
        >>> [arm.label for arm in study_arms(study)]
        ['searched (trial 1)', 'refined (trial 2)']
    """
    if len(study.directions) > 1:
        raise G2LError(
            f"study {study.study_name!r} has {len(study.directions)} objectives, so no single best trial: compare "
            "takes the best trial of a single-objective study; give the structures to compare with --structure"
        )
    pools: dict[str, list[Any]] = {"searched": [], "refined": []}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        spec = trial_structure(trial)
        if spec is not None:
            pools["refined" if is_refined(trial) else "searched"].append((trial, spec))
    if not pools["searched"] and not pools["refined"]:
        raise G2LError(
            f"study {study.study_name!r} has no COMPLETE trial with a 'structure' user attr (made by g2l-optimize "
            "search or refine) to compare"
        )
    arms: list[Arm] = []
    for kind, pool in pools.items():
        if not pool:
            continue
        specs = {trial.number: spec for trial, spec in pool}
        best = sort_best_first(study, [trial for trial, _ in pool])[0]
        spec = specs[best.number]
        if any(same_architecture(spec, arm.structure) for arm in arms):
            continue
        arms.append(Arm(f"{kind} (trial {best.number})", spec, f"trial {best.number}", best.number, float(best.value)))
    return arms


def same_architecture(a: StructureSpec, b: StructureSpec) -> bool:
    """Whether two structures build the same model (their names do not count), as the ensemble tells members apart."""
    return architecture_key(a) == architecture_key(b)


@dataclass(frozen=True)
class ArmResult:
    """One arm's test metrics after each seed: ``runs[i] = {"seed", "metrics", "train_seconds"}``."""

    arm: Arm
    params: int
    runs: tuple[dict[str, Any], ...]

    def stats(self) -> tuple[dict[str, float], dict[str, float]]:
        """Per metric, the mean and the sample standard deviation over the seeds."""
        pairs = {name: mean_std([run["metrics"][name] for run in self.runs]) for name in METRIC_NAMES}
        return {n: m for n, (m, _) in pairs.items()}, {n: s for n, (_, s) in pairs.items()}

    def to_dict(self, role: str, structure: bool = True) -> dict[str, Any]:
        mean, std = self.stats()
        out: dict[str, Any] = {
            "label": self.arm.label,
            "role": role,
            "source": self.arm.source,
            "trial": self.arm.trial,
            "value": self.arm.value,
            "summary": summarize_structure(self.arm.structure),
            "params": self.params,
            "runs": [dict(run) for run in self.runs],
            "mean": mean,
            "std": std,
        }
        if structure:
            out["structure"] = self.arm.structure.to_dict()
        return out


def paired_difference(searched: ArmResult, baseline: ArmResult) -> dict[str, Any]:
    """``searched - baseline`` seed by seed, and per metric its mean, spread (std of the paired differences),
    standard error, verdict (:func:`verdict`) and a one-line summary."""
    k = len(baseline.runs)
    per_seed = []
    for a, b in zip(searched.runs, baseline.runs, strict=True):
        if a["seed"] != b["seed"]:
            raise G2LError(f"paired difference: seed {a['seed']} paired with seed {b['seed']}")
        per_seed.append({"seed": a["seed"], "metrics": {n: a["metrics"][n] - b["metrics"][n] for n in METRIC_NAMES}})
    mean, std, stderr, verdicts = {}, {}, {}, {}
    for name in METRIC_NAMES:
        mean[name], std[name] = mean_std([d["metrics"][name] for d in per_seed])
        stderr[name] = std[name] / math.sqrt(k)
        verdicts[name] = verdict(mean[name], std[name], k)
    better = [n for n in METRIC_NAMES if verdicts[n] == "better"]
    worse = [n for n in METRIC_NAMES if verdicts[n] == "worse"]
    unsure = [n for n in METRIC_NAMES if verdicts[n] == INCONCLUSIVE]
    overall = ("mixed" if worse else "better") if better else ("worse" if worse else "inconclusive")
    head = f"{searched.arm.label} vs {baseline.arm.label}: "
    if overall == "inconclusive":
        line = head + INCONCLUSIVE + " on every metric"
    else:
        parts = [f"better on {', '.join(better)}"] if better else []
        parts += [f"worse on {', '.join(worse)}"] if worse else []
        parts += [f"within the seed spread on {', '.join(unsure)}"] if unsure else []
        line = head + "; ".join(parts)
    if same_architecture(searched.arm.structure, baseline.arm.structure):
        line += " (same architecture as the baseline)"
    return {
        "label": searched.arm.label,
        "vs": baseline.arm.label,
        "per_seed": per_seed,
        "mean": mean,
        "std": std,
        "stderr": stderr,
        "verdict": verdicts,
        "overall": overall,
        "line": line,
    }


def _cell(mean: float, std: float, signed: bool = False) -> str:
    return f"{mean:+.1f} +- {std:.1f}" if signed else f"{mean:.1f} +- {std:.1f}"


def format_compare(summary: Mapping[str, Any]) -> str:
    """The comparison table of a :meth:`CompareResult.to_dict` summary: mean +- std per metric for each structure,
    the differences (searched - baseline, spread of the paired differences) and one verdict line per searched
    structure."""
    structures = summary["structures"]
    differences = summary["differences"]
    diff_labels = ["difference"] if len(differences) == 1 else [f"{d['label']} - baseline" for d in differences]
    width = max(len(label) for label in ["structure", *(s["label"] for s in structures), *diff_labels]) + 2
    cell = 14
    lines = [
        f"test split {summary['split']} ({summary['test_videos']} videos), {summary['epochs']} epochs, "
        f"{len(summary['seeds'])} paired seeds ({', '.join(map(str, summary['seeds']))}): mean +- std",
        "",
        f"{'structure':<{width}}" + "".join(f"{n:<{cell}}" for n in METRIC_NAMES).rstrip(),
    ]
    for s in structures:
        cells = "".join(f"{_cell(s['mean'][n], s['std'][n]):<{cell}}" for n in METRIC_NAMES)
        lines.append(f"{s['label']:<{width}}" + cells.rstrip())
    for label, d in zip(diff_labels, differences, strict=True):
        cells = "".join(f"{_cell(d['mean'][n], d['std'][n], signed=True):<{cell}}" for n in METRIC_NAMES)
        lines.append(f"{label:<{width}}" + cells.rstrip())
    lines.append("")
    for s in structures:
        lines.append(f"{s['label']}: {s['summary']}, {s['params']:,} parameters ({s['source']})")
    lines.append("")
    lines += [f"verdict: {d['line']}" for d in differences]
    lines.append("(better/worse: the mean paired difference exceeds 2 standard errors, std/sqrt(K), of the seeds)")
    return "\n".join(lines)


@dataclass(frozen=True)
class CompareResult:
    """The baseline's and each searched structure's per-seed test metrics (see :func:`compare_structures`)."""

    baseline: ArmResult
    searched: tuple[ArmResult, ...]
    seeds: tuple[int, ...]
    split: int
    test_videos: int
    epochs: int

    def differences(self) -> list[dict[str, Any]]:
        """:func:`paired_difference` of every searched structure against the baseline."""
        return [paired_difference(arm, self.baseline) for arm in self.searched]

    def to_dict(self, structures: bool = True) -> dict[str, Any]:
        """JSON-ready summary (``structures=False`` leaves out the full structure dicts)."""
        return {
            "split": self.split,
            "test_videos": self.test_videos,
            "epochs": self.epochs,
            "seeds": list(self.seeds),
            "metrics": list(METRIC_NAMES),
            "verdict_rule": VERDICT_RULE,
            "structures": [self.baseline.to_dict("baseline", structures)]
            + [arm.to_dict("searched", structures) for arm in self.searched],
            "differences": self.differences(),
        }

    def format(self) -> str:
        return format_compare(self.to_dict(structures=False))


def compare_structures(
    config: StudyConfig,
    searched: Sequence[Arm],
    seeds: int = 3,
    device: str = "auto",
    epochs: int | None = None,
    log: Callable[[str], Any] = print,
) -> CompareResult:
    """Train the config's base structure (``config.structure``, the baseline) and every ``searched`` structure with
    ``seeds`` paired seeds each, and score them on the test list.

    Seed i (``training.seed + i``) is both the model seed (initial weights) and the trainer seed (dropout, batch
    order) of every arm, so the arms of one seed differ only by their structure. Each model is trained from
    scratch on the split's whole train list with the config's ``training`` settings (``epochs`` overrides
    ``training.epochs``), predicted on the test list and scored at the full frame rate with the config's
    ``bg_classes``, as in :func:`g2l_automl.search.ensemble_study`. The verdict rule is in the module docstring.
    """
    check_int(seeds, "seeds", 2, error=G2LError)  # a spread needs two seeds at least
    if not searched:
        raise G2LError("no structure to compare with the baseline")
    base_trainer = config_trainer(config, str(resolve_device(device)), epochs)
    data = load_test_split(config)
    arms = [Arm(baseline_label(config.structure), config.structure, "config"), *searched]
    first = config.training["seed"]
    seed_list = tuple(first + i for i in range(seeds))
    runs: list[list[dict[str, Any]]] = [[] for _ in arms]
    params = [0] * len(arms)
    for i, seed in enumerate(seed_list):
        trainer = replace_trainer(base_trainer, seed=seed)
        for a, arm in enumerate(arms):
            log(f"seed {seed} ({i + 1}/{seeds}): {arm.label} ({summarize_structure(arm.structure)}) ...")
            scored = train_and_score(arm.structure, data, trainer, seed=seed)
            m, secs = scored.metrics, scored.train_seconds
            log(f"  test F1@10 {m['F1@10']:.1f}  Edit {m['Edit']:.1f}  Acc {m['Acc']:.1f}  ({secs:.1f}s)")
            runs[a].append({"seed": seed, "metrics": m, "train_seconds": scored.train_seconds})
            params[a] = scored.params
    results = [ArmResult(arm, params[a], tuple(runs[a])) for a, arm in enumerate(arms)]
    return CompareResult(
        baseline=results[0],
        searched=tuple(results[1:]),
        seeds=seed_list,
        split=config.data["split"],
        test_videos=len(data.test),
        epochs=base_trainer.epochs,
    )
