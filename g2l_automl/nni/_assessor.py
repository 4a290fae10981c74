"""EGIAssessor: EGIPruner's rule for NNI (rungs with promotion, or the top-M cut, at the same steps)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from nni.assessor import Assessor, AssessResult
from nni.runtime.env_vars import dispatcher_env_vars

from g2l_automl._checks import check_choice
from g2l_automl._files import write_json_atomic
from g2l_automl.nni._protocol import default_value, echoed_id, ledger
from g2l_automl.pruners import RungRule

_LOG = logging.getLogger(__name__)

#: File of the assessor's intermediate values inside the state directory.
STATE_FILE = "g2l_assessor.json"


class EGIAssessor(Assessor):
    """Stop a trial at a rung by :class:`~g2l_automl.pruners.EGIPruner`'s rule (the same function,
    :func:`~g2l_automl.pruners.rung_prunes`, on the same options): under ``asha`` (default) a trial goes on only if
    its intermediate ``default`` is in the top ``1/reduction_factor`` of the trials that reached that step, once
    ``min_trials`` did; under ``top-m`` it stops when at least ``population_size`` others are strictly better.

    It also tells our tuners exactly which trial jobs ended or were stopped (our trials echo the tuner's id in
    every metric), which NNI 3.0 itself gets wrong under concurrency.

    Args:
        population_size: M of the ``top-m`` rule; set it to the tuner's population size.
        checkpoints: the rungs, steps (1-based counts of intermediate results) at which to decide; None: under
            ``asha`` ``min_resource * reduction_factor**k``, under ``top-m`` every step.
        optimize_mode: ``maximize`` or ``minimize``.
        rule, reduction_factor, min_resource, min_trials: as for :class:`~g2l_automl.pruners.EGIPruner`.
        state_dir: where the values are kept across ``nnictl resume`` (default: the experiment's checkpoint
            directory; None outside NNI: in memory).

    Example:
        >>> from nni.assessor import AssessResult
        >>> a = EGIAssessor(population_size=1, checkpoints=[1], rule="top-m")
        >>> a.assess_trial("A", [{"default": 60.0}]), a.assess_trial("B", [{"default": 40.0}])
        (<AssessResult.Good: True>, <AssessResult.Bad: False>)
    """

    def __init__(
        self,
        population_size: int = 50,
        checkpoints: Iterable[int] | None = None,
        optimize_mode: str = "maximize",
        state_dir: str | None = None,
        rule: str = "asha",
        reduction_factor: int = 3,
        min_resource: int = 3,
        min_trials: int | None = None,
    ) -> None:
        self.rule = RungRule(population_size, checkpoints, rule, reduction_factor, min_resource, min_trials)
        check_choice(optimize_mode, "optimize_mode", ("maximize", "minimize"))
        self.population_size = self.rule.population_size
        self.checkpoints = self.rule.checkpoints
        self.maximize = optimize_mode == "maximize"
        self.state_dir = state_dir or dispatcher_env_vars.NNI_CHECKPOINT_DIRECTORY
        self._ledger = ledger(self.state_dir)
        self._values: dict[int, dict[str, float]] = {}
        path = self._path()
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self._values = {int(step): dict(jobs) for step, jobs in json.load(f).items()}

    def _path(self) -> str | None:
        return os.path.join(self.state_dir, STATE_FILE) if self.state_dir else None

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        try:
            last = trial_history[-1]
            number = echoed_id(last)
            if number is not None:
                self._ledger.saw(trial_job_id, number)
            value, why = default_value(last)
            if value is None:
                _LOG.warning("trial job %s: intermediate result ignored: %s", trial_job_id, why)
                return AssessResult.Good
            step = len(trial_history)
            at_step = self._values.setdefault(step, {})
            at_step[trial_job_id] = value
            if not self.rule.is_rung(step):
                return AssessResult.Good
            others = (v for job, v in at_step.items() if job != trial_job_id)
            if self.rule.prunes(value, others, self.maximize):
                _LOG.info(
                    "stopping trial job %s: %.4g at step %d does not pass the rung (%s)",
                    trial_job_id,
                    value,
                    step,
                    self.rule.describe(),
                )
                self._ledger.stop(trial_job_id)
                return AssessResult.Bad
        except Exception:  # an assessor that raises kills NNI's dispatcher
            _LOG.exception("assess_trial(%s) failed; the trial goes on", trial_job_id)
        return AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        self._ledger.end(trial_job_id, success)
        self.save_checkpoint()

    def save_checkpoint(self) -> None:
        path = self._path()
        if not path:
            return
        try:
            write_json_atomic(path, self._values)
        except OSError:
            _LOG.exception("could not save the assessor state to %s", path)
