"""Warm starts: the best structures of another study (another dataset, another storage) enqueued into a new
search's generation 0, their genes mapped onto this search space's candidates."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from g2l_automl import _attrs as attrs
from g2l_automl.errors import G2LError
from g2l_automl.samplers import sort_best_first
from g2l_automl.search._storage import display_url, open_storage
from g2l_automl.spaces import SearchSpace

#: User attr of an enqueued warm-start trial: ``"<study>#<trial number>"`` of the structure it came from.
WARM_START_ATTR = attrs.WARM_START


@dataclass(frozen=True)
class WarmStart:
    """One structure to enqueue: its parameters in this space, where it came from, the genes moved."""

    params: dict[str, Any]
    source: str
    mapped: tuple[str, ...]


def parse_source(text: str) -> tuple[str, str]:
    """``STORAGE:STUDY`` split at the last colon (storage URLs have colons, study names may not)."""
    storage, sep, study = text.rpartition(":")
    if not sep or not storage or not study or study.startswith("//"):  # "//": a URL without a study name
        raise G2LError(f"--warm-start: {text!r}: expected STORAGE:STUDY, e.g. sqlite:///g2l.db:gtea")
    return storage, study


def nearest(value: Any, choices: tuple[Any, ...]) -> Any | None:
    """The candidate closest to a numeric ``value`` (by ratio when all are positive: dilation 48 is nearer 64,
    x1.33, than 32, x1.5; ties go to the smaller), or None when ``value`` or the candidates are not numbers."""
    numeric = [c for c in choices if isinstance(c, numbers.Real) and not isinstance(c, bool)]
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or len(numeric) != len(choices):
        return None
    if value > 0 and all(c > 0 for c in numeric):
        return min(numeric, key=lambda c: (round(abs(math.log2(c / value)), 9), c))
    return min(numeric, key=lambda c: (abs(c - value), c))


def map_params(params: dict[str, Any], space: SearchSpace, where: str) -> tuple[dict[str, Any], list[str]]:
    """``params`` of another study as parameters of ``space``: every active gene must be there; a value that
    is not a candidate moves to the nearest one (numbers only), else :class:`G2LError` names the gene."""
    values: dict[str, Any] = {}
    mapped = []
    for gene in space.genes:
        if not space.is_active(gene, values):
            continue
        if gene.name not in params:
            raise G2LError(f"--warm-start: {where} has no gene {gene.name!r}: the spaces differ in stages or layers")
        value = params[gene.name]
        if value not in gene.choices:
            moved = nearest(value, gene.choices)
            if moved is None:
                raise G2LError(
                    f"--warm-start: {where}: {gene.name}={value!r} is not one of this space's candidates "
                    f"{list(gene.choices)} and has no nearest one"
                )
            value = moved
            mapped.append(gene.name)
        values[gene.name] = value
    return values, mapped


def warm_starts(storage: str, study_name: str, space: SearchSpace, top: int) -> list[WarmStart]:
    """The ``top`` best COMPLETE trials of the study ``study_name`` in ``storage`` (best first; Pareto front and
    crowding for several objectives) as distinct parameter sets of ``space``. Read-only."""
    try:
        source = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise G2LError(f"--warm-start: no study {study_name!r} in {display_url(storage)}") from None
    complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise G2LError(f"--warm-start: study {study_name!r} in {display_url(storage)} has no complete trial")
    out: list[WarmStart] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for trial in sort_best_first(source, complete):
        params, mapped = map_params(trial.params, space, f"study {study_name!r} trial {trial.number}")
        key = tuple(sorted(params.items()))
        if key in seen:  # two structures that map onto one
            continue
        seen.add(key)
        out.append(WarmStart(params, f"{study_name}#{trial.number}", tuple(mapped)))
        if len(out) == top:
            break
    return out


def enqueue_warm_starts(study: optuna.Study, starts: list[WarmStart]) -> int:
    """Enqueue ``starts`` (skipping any the study already has), so the next trials, generation 0 of a new
    study, train them first; returns how many were new."""
    before = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    for start in starts:
        study.enqueue_trial(start.params, user_attrs={WARM_START_ATTR: start.source}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) - before
