"""EGIAssessor: EGIPruner's rule for NNI (stop a trial that cannot make the top M at the same step)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from nni.assessor import Assessor, AssessResult
from nni.runtime.env_vars import dispatcher_env_vars

from g2l_automl._files import write_json_atomic
from g2l_automl.nni._protocol import default_value, echoed_id, ledger
from g2l_automl.pruners import cannot_make_top

_LOG = logging.getLogger(__name__)

#: File of the assessor's intermediate values inside the state directory.
STATE_FILE = "g2l_assessor.json"


class EGIAssessor(Assessor):
    """Stop a trial whose intermediate ``default`` at a checkpoint step is beaten by at least
    ``population_size`` other trials at that step: G2L's top-M survival rule applied early, as
    :class:`~g2l_automl.pruners.EGIPruner` does for Optuna.

    It also tells our tuners exactly which trial jobs ended or were stopped (our trials echo the tuner's id in
    every metric), which NNI 3.0 itself gets wrong under concurrency.

    Args:
        population_size: M; set it to the tuner's population size.
        checkpoints: steps (1-based counts of intermediate results) at which to decide; None: every step.
        optimize_mode: ``maximize`` or ``minimize``.
        state_dir: where the values are kept across ``nnictl resume`` (default: the experiment's checkpoint
            directory; None outside NNI: in memory).

    Example:
        >>> from nni.assessor import AssessResult
        >>> a = EGIAssessor(population_size=1, checkpoints=[1])
        >>> a.assess_trial("A", [{"default": 60.0}]), a.assess_trial("B", [{"default": 40.0}])
        (<AssessResult.Good: True>, <AssessResult.Bad: False>)
    """

    def __init__(
        self,
        population_size: int = 50,
        checkpoints: Iterable[int] | None = None,
        optimize_mode: str = "maximize",
        state_dir: str | None = None,
    ) -> None:
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 1:
            raise ValueError(f"population_size: must be an integer >= 1, got {population_size!r}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"optimize_mode: must be 'maximize' or 'minimize', got {optimize_mode!r}")
        self.population_size = population_size
        self.checkpoints = None if checkpoints is None else frozenset(int(c) for c in checkpoints)
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
            if self.checkpoints is not None and step not in self.checkpoints:
                return AssessResult.Good
            others = (v for job, v in at_step.items() if job != trial_job_id)
            if cannot_make_top(value, others, self.population_size, self.maximize):
                _LOG.info(
                    "stopping trial job %s: %.4g at step %d is not in the top %d",
                    trial_job_id,
                    value,
                    step,
                    self.population_size,
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
