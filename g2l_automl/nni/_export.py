"""An NNI experiment's results, each paired with the parameters its trial really ran with, as Optuna trials."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from g2l_automl import _attrs as schema
from g2l_automl.errors import G2LError
from g2l_automl.nni._experiment import TrialRecord, profile, trial_records
from g2l_automl.nni._protocol import ID_KEY, STOPPED_KEY, default_value, echoed_id
from g2l_automl.nni._space import distributions_from_nni
from g2l_automl.search import display_url, open_storage
from g2l_automl.spaces import SearchSpace

_STOPPED = ("USER_CANCELED", "EARLY_STOPPED")


def _check_pairing(rec: TrialRecord) -> None:
    """Every metric a job reported must echo the id of the parameters the job itself recorded."""
    for metric in [*rec.intermediate, *([rec.final] if rec.final is not None else [])]:
        echoed = echoed_id(metric)
        if echoed is not None and rec.g2l_id is not None and echoed != rec.g2l_id:
            raise G2LError(f"trial job {rec.job}: metric echoes {ID_KEY}={echoed} but the job ran {rec.g2l_id}")


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000)


def _set_times(trial: FrozenTrial, rec: TrialRecord) -> None:
    """NNI's own start and end times of the job (naive local time, as Optuna stores its own), so durations in
    optuna-dashboard are the real ones; without them the export time stays."""
    start, end = _time(rec.start_ms), _time(rec.end_ms)
    if start is not None:
        trial.datetime_start = start
    if end is not None and (start is None or end >= start):
        trial.datetime_complete = end
    if trial.datetime_complete is not None and trial.datetime_start > trial.datetime_complete:
        trial.datetime_start = trial.datetime_complete


def to_frozen_trials(path: Path, space: SearchSpace | None = None) -> list[FrozenTrial]:
    """One Optuna trial per finished job that recorded its parameters (jobs of other trial commands have no
    record and are skipped): COMPLETE with a usable final ``default``, else PRUNED when stopped by the assessor
    and FAIL otherwise (a final result marked ``stopped`` is PRUNED too); intermediate defaults as intermediate
    values; NNI's start and end times; all numeric metrics, the NNI ids and (with ``space``) the structure as user
    attrs."""
    if space is not None:
        distributions: dict[str, BaseDistribution] = space.distributions()
    else:
        nni_space = profile(path).get("searchSpace")
        if not isinstance(nni_space, dict):
            raise G2LError(f"{path}: the experiment's profile has no searchSpace object (give --config)")
        distributions = distributions_from_nni(nni_space)
    out = []
    for rec in trial_records(path):
        if rec.parameters is None or rec.status is None:
            continue
        _check_pairing(rec)
        unknown = sorted(set(rec.parameters) - set(distributions))
        if unknown:
            raise G2LError(f"trial job {rec.job}: parameters {unknown} are not in the search space")
        value, _why = default_value(rec.final)
        # a job stopped by the assessor after its final report still has a whole result, as the tuner saw
        if value is not None:
            state = TrialState.COMPLETE
        else:
            stopped = rec.status in _STOPPED or (isinstance(rec.final, dict) and rec.final.get(STOPPED_KEY))
            state = TrialState.PRUNED if stopped else TrialState.FAIL
        steps = {i + 1: v for i, m in enumerate(rec.intermediate) if (v := default_value(m)[0]) is not None}
        attrs: dict[str, Any] = {
            schema.NNI_TRIAL_JOB_ID: rec.job,
            schema.NNI_PARAMETER_ID: rec.parameter_id,
            schema.NNI_STATUS: rec.status,
            schema.G2L_ID: rec.g2l_id,
        }
        if isinstance(rec.final, dict):
            attrs[schema.METRICS] = {
                k: v for k, v in rec.final.items() if k not in ("default", ID_KEY) and isinstance(v, (int, float))
            }
            if rec.final.get("error"):
                attrs[schema.ERROR] = rec.final["error"]
        if space is not None:
            attrs[schema.STRUCTURE] = space.to_structure(rec.parameters).to_dict()
        try:
            trial = create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                params=rec.parameters,
                distributions={k: distributions[k] for k in rec.parameters},
                intermediate_values=steps,
                user_attrs=attrs,
            )
        except ValueError as exc:  # a parameter value outside its distribution, a non-finite value, ...
            raise G2LError(f"trial job {rec.job}: {exc}") from None
        _set_times(trial, rec)
        out.append(trial)
    return out


def export_to_study(
    trials: list[FrozenTrial], storage: str, study_name: str, direction: str = "maximize"
) -> optuna.Study:
    """A new study holding ``trials``; an existing study of that name is refused, and a failed copy removed."""
    backend = open_storage(storage, create=True)
    try:
        optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        pass
    else:
        raise G2LError(f"study {study_name!r} already exists in {display_url(storage)}; choose another --study-name")
    study = optuna.create_study(storage=backend, study_name=study_name, direction=direction)
    try:
        study.add_trials(trials)
    except Exception:
        optuna.delete_study(study_name=study_name, storage=backend)
        raise
    return study
