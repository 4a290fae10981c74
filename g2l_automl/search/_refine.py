"""Refine the best structures of a search study with EGI (or DARTS) and write them back as trials."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from g2l_automl import _attrs as attrs
from g2l_automl.egi import EGILocalSearch
from g2l_automl.errors import G2LError
from g2l_automl.objective import SegmentationObjective
from g2l_automl.samplers import sort_best_first
from g2l_automl.search._run import format_dilations
from g2l_automl.structure import StructureSpec


def _structure_of(trial: FrozenTrial) -> StructureSpec:
    """The structure to refine: the one ``trial`` trained and scored (:func:`~g2l_automl._attrs.trial_structure`)."""
    spec = attrs.trial_structure(trial)
    if spec is None:
        raise G2LError(f"trial {trial.number} has no 'structure' user attr: it was not made by g2l-optimize search")
    return spec


def pick_trials(study: optuna.Study, top: int, numbers: Sequence[int] = ()) -> list[FrozenTrial]:
    """The trials to refine: the given ``numbers`` (each must be COMPLETE), or the ``top`` best COMPLETE search
    trials (refined trials themselves are not picked again)."""
    trials = study.get_trials(deepcopy=False)
    if numbers:
        out = []
        for n in numbers:
            if not 0 <= n < len(trials):
                raise G2LError(f"trial {n}: no such trial in study {study.study_name!r} ({len(trials)} trials)")
            trial = trials[n]
            if trial.state != TrialState.COMPLETE:
                reason = attrs.trial_error(trial) or ""
                raise G2LError(
                    f"trial {n} is {trial.state.name}{f' ({reason})' if reason else ''}: only COMPLETE trials can "
                    "be refined"
                )
            _structure_of(trial)
            out.append(trial)
        return out
    pool = [t for t in trials if t.state == TrialState.COMPLETE and not attrs.is_refined(t)]
    pool = [t for t in pool if attrs.has_structure(t)]
    if not pool:
        raise G2LError(f"study {study.study_name!r} has no COMPLETE search trial to refine yet")
    picked = sort_best_first(study, pool)[:top]
    for trial in picked:  # every start checked before the first is refined: a bad one stops with nothing added
        _structure_of(trial)
    return picked


def already_refined(study: optuna.Study, number: int, method: str) -> FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(attrs.REFINED_FROM) == number and t.user_attrs.get(attrs.METHOD) == method:
            return t
    return None


def refine_study(
    study: optuna.Study,
    objective: SegmentationObjective,
    search: EGILocalSearch,
    top: int = 5,
    numbers: Sequence[int] = (),
    log: Callable[[str], Any] = print,
) -> list[FrozenTrial]:
    """Refine the picked trials and add each result to ``study`` as a COMPLETE trial with user attrs
    ``refined_from``, ``method``, ``trajectory``, ``structure``, ``metrics``, ``params``. Returns the new trials
    (an already refined trial is skipped and its earlier result returned)."""
    out = []
    for trial in pick_trials(study, top, numbers):
        earlier = already_refined(study, trial.number, search.method)
        if earlier is not None:
            log(f"trial {trial.number}: already refined with {search.method} as trial {earlier.number}")
            out.append(earlier)
            continue
        start = _structure_of(trial)
        log(f"trial {trial.number} (value {', '.join(f'{v:.2f}' for v in trial.values)}): {search.method} ...")
        result, score = objective.refine_structure(start, search, study)
        metrics, n_params, seconds = score.metrics, score.n_params, score.seconds
        flops = objective.flops(result.structure)
        values = objective.values(metrics, n_params, flops)
        values = [values] if isinstance(values, float) else list(values)
        frozen = optuna.trial.create_trial(
            values=values,
            params={},
            distributions={},
            user_attrs={
                attrs.REFINED_FROM: trial.number,
                attrs.METHOD: search.method,
                attrs.STRUCTURE: result.structure.to_dict(),
                attrs.TRAJECTORY: result.trajectory,
                attrs.CONVERGED: result.converged,
                attrs.SEARCH_EPOCHS: result.epochs,
                attrs.METRICS: metrics,
                attrs.PARAMS: n_params,
                attrs.FLOPS: flops,
                attrs.TRAIN_SECONDS: seconds,
                attrs.EPOCHS: objective.refinement_epochs(result, score),
                **objective.score_attrs(score),
            },
        )
        study.add_trial(frozen)
        added = study.get_trials(deepcopy=False)[-1]
        log(
            f"  -> trial {added.number}: value {', '.join(f'{v:.2f}' for v in values)}, dilations "
            + format_dilations(result.structure.dilations())
        )
        out.append(added)
    return out
