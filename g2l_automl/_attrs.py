"""The schema of the user attrs that objectives, refinement, NNI and reports write on Optuna trials and studies:
one named constant per key, and the accessors that read them.

A trial of a search holds its candidate (``structure``, or ``arch`` for Video-NAS), what training it cost and
what it scored; a refined trial also says where it came from. :func:`trial_structure` is THE structure a trial's
value belongs to: what was trained and scored.

Example:
    >>> import optuna
    >>> from g2l_automl.structure import StructureSpec
    >>> searched, refined = StructureSpec.mstcn(1, 3), StructureSpec.mstcn(1, 3).with_dilations([[1, 1, 1]])
    >>> trial = optuna.trial.create_trial(
    ...     value=1.0, user_attrs={STRUCTURE: searched.to_dict(), REFINED_STRUCTURE: refined.to_dict()})
    >>> trial_structure(trial).dilations(), searched_structure(trial).dilations()
    ([[1, 1, 1]], [[1, 2, 4]])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.trial import FrozenTrial

from g2l_automl.errors import G2LError
from g2l_automl.structure import StructureSpec

# -- the candidate ---------------------------------------------------------------------------------------------
#: the structure the sampler proposed (StructureSpec JSON)
STRUCTURE = "structure"
#: the structure EGI refinement in the trial made of :data:`STRUCTURE`; the trial's value is this one's
REFINED_STRUCTURE = "refined_structure"
#: a Video-NAS architecture (VideoNASArch JSON)
ARCH = "arch"
#: the base structure's name, on the enqueued baseline trial
BASELINE = "baseline"
#: ``"<study>#<trial number>"`` of the structure an enqueued warm-start trial came from
WARM_START = "warm_start"

# -- what it scored and cost -----------------------------------------------------------------------------------
#: validation metrics (mean over repeats)
METRICS = "metrics"
#: each repeat's validation metrics
REPEATS = "repeats"
#: the validation metrics of a candidate's first training(s) before ``rescore_top`` trained it again
RESCORED = "rescored"
#: the standard deviation of each metric over the repeats
METRICS_STD = "metrics_std"
#: the validation metrics before in-trial refinement
UNREFINED_METRICS = "unrefined_metrics"
#: parameter count
PARAMS = "params"
#: FLOPs of one forward pass
FLOPS = "flops"
#: seconds of training (0 for a candidate scored before)
TRAIN_SECONDS = "train_seconds"
#: training epochs spent, every repeat, the epochs before a prune and refinement counted
EPOCHS = "epochs"
#: the crash of a failed trial, ``"Type: message"``
ERROR = "error"
#: the trial that first trained the same candidate (this one reused its score)
DUPLICATE_OF = "duplicate_of"

# -- refinement ------------------------------------------------------------------------------------------------
#: the trial a refine-study trial started from
REFINED_FROM = "refined_from"
#: the local search method (``egi``, ``darts``)
METHOD = "method"
#: every layer's dilation after each local-search update
TRAJECTORY = "trajectory"
#: whether the local search stopped at an update that moved no dilation
CONVERGED = "converged"
#: supernet epochs of the local search
SEARCH_EPOCHS = "search_epochs"

# -- NNI -------------------------------------------------------------------------------------------------------
#: the NNI parameter id a tuner's trial answers
NNI_PARAMETER_ID = "nni_parameter_id"
#: the NNI trial job of an exported trial
NNI_TRIAL_JOB_ID = "nni_trial_job_id"
#: the NNI status of an exported trial
NNI_STATUS = "nni_status"
#: the id the G2L tuner gave an exported trial's parameters
G2L_ID = "g2l_id"
#: a result the NNI tuner imported (no parameters of its own)
IMPORTED = "imported"

# -- study user attrs ------------------------------------------------------------------------------------------
#: the last ``g2l-optimize compare`` result
COMPARE = "compare"
#: the last ``g2l-optimize ensemble`` result
ENSEMBLE = "ensemble"

#: user attrs that belong to a trial itself, not to the candidate it scored (a reusing trial keeps its own)
OWN: tuple[str, ...] = (DUPLICATE_OF, TRAIN_SECONDS, EPOCHS, BASELINE, WARM_START)


def _structure(trial: FrozenTrial, key: str) -> StructureSpec | None:
    data = trial.user_attrs.get(key)
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise G2LError(f"trial {trial.number}: user attr {key!r} is not a valid structure: got {data!r}")
    try:
        return StructureSpec.from_dict(data)
    except (G2LError, TypeError) as exc:
        raise G2LError(f"trial {trial.number}: user attr {key!r} is not a valid structure: {exc}") from None


def trial_structure(trial: FrozenTrial) -> StructureSpec | None:
    """The structure ``trial``'s value belongs to, i.e. the one trained and scored: :data:`REFINED_STRUCTURE` when
    the trial refined its candidate, else :data:`STRUCTURE`; None when it has neither (a trial no structure
    search made). A stored structure that is not valid raises :class:`~g2l_automl.errors.G2LError` naming the
    trial."""
    refined = _structure(trial, REFINED_STRUCTURE)
    return refined if refined is not None else _structure(trial, STRUCTURE)


def searched_structure(trial: FrozenTrial) -> StructureSpec | None:
    """The structure the sampler proposed (:data:`STRUCTURE`, before any refinement in the trial), or None."""
    return _structure(trial, STRUCTURE)


def has_structure(trial: FrozenTrial) -> bool:
    """Whether ``trial`` holds a structure (see :func:`trial_structure`), valid or not."""
    return STRUCTURE in trial.user_attrs or REFINED_STRUCTURE in trial.user_attrs


def is_refined(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was made by refining another trial (``g2l-optimize refine``)."""
    return REFINED_FROM in trial.user_attrs


def trial_metrics(trial: FrozenTrial) -> dict[str, Any]:
    """The validation metrics ``trial`` recorded (empty when none)."""
    metrics = trial.user_attrs.get(METRICS)
    return dict(metrics) if isinstance(metrics, Mapping) else {}


def trial_error(trial: FrozenTrial) -> str | None:
    """Why ``trial`` failed: the objective's :data:`ERROR`, else Optuna's ``fail_reason``; None when unknown."""
    return trial.user_attrs.get(ERROR) or trial.system_attrs.get("fail_reason") or None
