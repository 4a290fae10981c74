"""NNI tuners that run our Optuna samplers: one implementation of the genetic operators, two front ends.

A tuner keeps an Optuna study (a journal file in the experiment's checkpoint directory, so ``nnictl resume`` finds
it, or in memory) and asks the sampler for each parameter set exactly as ``g2l-optimize search`` does; results
are told back to the study. The study is an ordinary Optuna study: ``g2l-optimize nni-export --to-storage`` copies
it, optuna-dashboard and ``optuna.visualization`` read it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from nni.runtime.env_vars import dispatcher_env_vars
from nni.tuner import Tuner
from optuna.distributions import BaseDistribution
from optuna.storages import InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState, create_trial

from g2l_automl import _attrs as attrs
from g2l_automl._checks import check_choice
from g2l_automl.errors import SpaceError
from g2l_automl.nni._experiment import resolve_path
from g2l_automl.nni._protocol import ID_KEY, STOPPED_KEY, default_value, echoed_id, ledger
from g2l_automl.nni._space import distributions_from_nni
from g2l_automl.samplers import G2LGeneticSampler, make_sampler
from g2l_automl.spaces import SearchSpace

_LOG = logging.getLogger(__name__)

#: File of the tuner's Optuna study inside the state directory.
STUDY_FILE = "g2l_study.journal"
#: Name of that study.
STUDY_NAME = "nni"


def _mode(optimize_mode: str) -> str:
    return check_choice(optimize_mode, "optimize_mode", ("maximize", "minimize"))


def _numeric(metric: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metric.items()
        if k not in ("default", ID_KEY) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


class _SamplerTuner(Tuner):
    """An NNI tuner over one of our Optuna samplers (subclasses choose which and when a trial may start)."""

    sampler_name = ""

    def __init__(
        self,
        config: str | None = None,
        optimize_mode: str = "maximize",
        seed: int | None = None,
        state_dir: str | None = None,
        **sampler_options: Any,
    ) -> None:
        from g2l_automl.config import load_config

        self._lock = threading.RLock()
        self.optimize_mode = _mode(optimize_mode)
        self.space: SearchSpace | None = load_config(resolve_path(config)).space if config else None
        self.sampler = make_sampler(self.sampler_name, self.space, sampler_options, seed)
        self.state_dir = state_dir or dispatcher_env_vars.NNI_CHECKPOINT_DIRECTORY
        self._ledger = ledger(self.state_dir)
        if self.state_dir:
            os.makedirs(self.state_dir, exist_ok=True)
            storage: Any = JournalStorage(JournalFileBackend(os.path.join(self.state_dir, STUDY_FILE)))
        else:
            storage = InMemoryStorage()
        self.study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            direction=self.optimize_mode,
            sampler=self.sampler,
            load_if_exists=True,
        )
        if self.study.direction.name.lower() != self.optimize_mode:
            raise ValueError(
                f"optimize_mode: the saved tuner study in {self.state_dir} is {self.study.direction.name.lower()}"
            )
        self.distributions: dict[str, BaseDistribution] | None = self.space.distributions() if self.space else None
        self._by_parameter: dict[int, int] = {
            t.user_attrs[attrs.NNI_PARAMETER_ID]: t.number
            for t in self.study.get_trials(deepcopy=False)
            if attrs.NNI_PARAMETER_ID in t.user_attrs
        }
        self._issued: set[int] = set()
        self._awaiting_end: set[int] = set()  # trials whose final result came in, their job's end not yet
        self._deferred: list[int] = []
        self._send: Callable[[int, dict[str, Any]], None] | None = None
        self._stale_checked = False

    # -- NNI Tuner API -------------------------------------------------------------------------------------
    def update_search_space(self, search_space: dict[str, Any]) -> None:
        with self._lock:
            distributions = distributions_from_nni(search_space)
            if self.space is not None:
                expected = set(self.space.names)
                if set(distributions) != expected:
                    missing, extra = sorted(expected - set(distributions)), sorted(set(distributions) - expected)
                    raise SpaceError(
                        "NNI search space does not match the config's space: "
                        f"missing {missing or 'none'}, unknown {extra or 'none'} "
                        "(write it with g2l-optimize nni-space --config FILE)"
                    )
            else:
                self.distributions = distributions

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self._fail_stale()
            return self._new(parameter_id)

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        """Parameter sets for the first ids that may start now; the others wait and are sent through
        ``st_callback`` as soon as trials finish (a generation-based search must not overshoot)."""
        with self._lock:
            self._send = kwargs.get("st_callback", self._send)
            self._fail_stale()
            self._release()
            out = []
            for pid in parameter_id_list:
                if self._deferred or self._send is not None and not self._has_room():
                    self._deferred.append(pid)
                else:
                    out.append(self._new(pid))
            if self._deferred:
                _LOG.info("waiting for trials to finish before sending parameters %s", self._deferred)
            return out

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any, **kwargs: Any) -> None:
        with self._lock:
            try:
                self._receive(parameter_id, parameters, value, kwargs.get("trial_job_id"))
            except Exception:  # a tuner method must never raise: NNI's dispatcher would die with it
                _LOG.exception("receive_trial_result(%s) failed; the result is ignored", parameter_id)
            self._release()

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        with self._lock:
            try:
                ended = self._ledger.take_ended()
                if ended:  # exact: the assessor saw these jobs' own metrics
                    for number, ok in ended:
                        self._awaiting_end.discard(number)
                        self._close(number, ok)
                elif parameter_id in self._by_parameter:
                    # NNI's parameter id, right unless jobs ran concurrently (issue 5726). Our trials report a final
                    # result on every path they control (a stop included) before they exit, so while a trial whose
                    # result came in awaits its end, this end is that job's (its id may name another, still
                    # running trial); otherwise the job died silently and the id decides
                    number = self._by_parameter[parameter_id]
                    if number in self._awaiting_end:
                        self._awaiting_end.discard(number)
                    elif self._awaiting_end:
                        self._awaiting_end.pop()
                    else:
                        self._close(number, success)
            except Exception:
                _LOG.exception("trial_end(%s) failed", parameter_id)
            self._release()

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Results of earlier trials (``nnictl resume``, ``nnictl experiment import``): our own trials are
        matched by their id and completed; others join the study as finished trials."""
        with self._lock:
            for entry in data:
                try:
                    self._import(entry)
                except Exception as exc:
                    _LOG.warning("import_data: skipped %r: %s", entry, exc)
            self._release()

    # -- internals -----------------------------------------------------------------------------------------
    def _has_room(self) -> bool:
        return True

    def _new(self, parameter_id: int) -> dict[str, Any]:
        if self.space is not None:
            trial = self.study.ask()
            self.space.suggest(trial)
        else:
            if self.distributions is None:
                raise RuntimeError("generate_parameters called before update_search_space")
            trial = self.study.ask(self.distributions)
        trial.set_user_attr(attrs.NNI_PARAMETER_ID, parameter_id)
        self._by_parameter[parameter_id] = trial.number
        self._issued.add(trial.number)
        return {**trial.params, ID_KEY: trial.number}

    def _release(self) -> None:
        """Send waiting parameter sets while the sampler has room."""
        while self._deferred and self._send is not None and self._has_room():
            pid = self._deferred.pop(0)
            self._send(pid, self._new(pid))

    def _frozen(self, number: int) -> FrozenTrial | None:
        trials = self.study.get_trials(deepcopy=False)
        return trials[number] if 0 <= number < len(trials) else None

    def _receive(self, parameter_id: int, parameters: Mapping[str, Any], value: Any, job: str | None) -> None:
        number = echoed_id(value)
        if number is None:
            number = echoed_id(parameters)
        if number is None:
            number = self._by_parameter.get(parameter_id)
        if number is None:
            self._import({"parameter": dict(parameters), "value": value})
            return
        if parameter_id >= 0:  # a result from a running job (not import_data's): that job's end follows
            self._awaiting_end.add(number)
        trial = self._frozen(number)
        if trial is None or trial.state != TrialState.RUNNING:
            _LOG.warning("result for trial %s that is not running (%s); ignored", number, trial and trial.state.name)
            return
        storage, trial_id = self.study._storage, trial._trial_id
        if job is not None:
            storage.set_trial_user_attr(trial_id, "nni_trial_job_id", job)
        if isinstance(value, Mapping):
            storage.set_trial_user_attr(trial_id, "metrics", _numeric(value))
        default, why = default_value(value)
        if default is None:
            stopped = self._ledger.was_stopped(number) or (isinstance(value, Mapping) and value.get(STOPPED_KEY))
            state = TrialState.PRUNED if stopped else TrialState.FAIL
            _LOG.warning("trial %d: %s; marked %s", number, why, state.name)
            storage.set_trial_user_attr(trial_id, "error", why)
            self.study.tell(number, state=state)
        else:
            self.study.tell(number, default)

    def _close(self, number: int, success: bool) -> None:
        """A trial job ended; one still without a result was stopped by the assessor or died without reporting."""
        trial = self._frozen(number)
        if trial is None or trial.state != TrialState.RUNNING:
            return
        if self._ledger.was_stopped(number):
            self.study.tell(number, state=TrialState.PRUNED)
            return
        why = "the trial job ended without a final result" + ("" if success else " (failed)")
        self.study._storage.set_trial_user_attr(trial._trial_id, "error", why)
        self.study.tell(number, state=TrialState.FAIL)

    def _fail_stale(self) -> None:
        """Once per process: trials left RUNNING by an earlier tuner process (``nnictl resume``) are failed."""
        if self._stale_checked:
            return
        self._stale_checked = True
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number not in self._issued:
                self.study._storage.set_trial_user_attr(trial._trial_id, "error", "running when the tuner stopped")
                self.study.tell(trial.number, state=TrialState.FAIL)

    def _import(self, entry: Mapping[str, Any]) -> None:
        params = dict(entry["parameter"])
        number = params.pop(ID_KEY, None)
        default, why = default_value(entry.get("value"))
        if isinstance(number, int) and (trial := self._frozen(number)) is not None:
            if trial.state == TrialState.RUNNING:
                self._receive(-1, params, {**_as_dict(entry.get("value")), ID_KEY: number}, None)
            return
        if default is None:
            raise ValueError(why)
        distributions = self.distributions or {}
        unknown = sorted(set(params) - set(distributions))
        if unknown:
            raise ValueError(f"parameters {unknown} are not in the search space")
        value = entry.get("value")
        self.study.add_trial(
            create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                value=default,
                user_attrs={
                    attrs.IMPORTED: True,
                    **({attrs.METRICS: _numeric(value)} if isinstance(value, Mapping) else {}),
                },
                system_attrs=self._import_attrs(),
            )
        )

    def _import_attrs(self) -> dict[str, Any]:
        """System attrs of an imported trial (the sampler's bookkeeping)."""
        return {}


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {"default": value}


class G2LGeneticTuner(_SamplerTuner):
    """G2L's genetic global search as an NNI tuner: :class:`~g2l_automl.samplers.G2LGeneticSampler` behind
    NNI's tuner API.

    A generation starts only ``population_size`` trials; when NNI asks for more (trial concurrency above the
    population, or NNI's usual over-asking), the extra requests wait and are answered through ``st_callback``
    as soon as the generation's results are in. Failed and stopped trials free their place.

    Args:
        config: a study config (``studies/*.yaml``) whose space the NNI search space must be (recommended: the
            genome then knows layers, depths and ops); without it, any NNI search space of choice / randint /
            uniform / quniform / loguniform keys.
        optimize_mode: ``maximize`` or ``minimize``.
        seed: sampler seed.
        state_dir: where the tuner's Optuna study lives (default: the experiment's checkpoint directory).
        population_size, mutation_prob, ...: :class:`~g2l_automl.samplers.G2LGeneticSampler` options.

    Example:
        >>> from g2l_automl.spaces import Dilations, SearchSpace
        >>> from g2l_automl.structure import StructureSpec
        >>> tuner = G2LGeneticTuner(population_size=2, seed=0)
        >>> tuner.update_search_space(SearchSpace(StructureSpec.mstcn(1, 3), [Dilations(k=2, T=3)]).to_nni())
        >>> sent = []
        >>> first = tuner.generate_multiple_parameters([0, 1, 2], st_callback=lambda i, p: sent.append(i))
        >>> len(first), sent                       # generation 0 holds 2; parameter id 2 waits
        (2, [])
        >>> tuner.receive_trial_result(0, first[0], {"default": 50.0, "_g2l_id": first[0]["_g2l_id"]})
        >>> tuner.receive_trial_result(1, first[1], {"default": 60.0, "_g2l_id": first[1]["_g2l_id"]})
        >>> sent                                   # generation 1 has room: sent through st_callback
        [2]
    """

    sampler_name = "g2l"
    sampler: G2LGeneticSampler

    def _has_room(self) -> bool:
        return self.sampler.open_slots(self.study) > 0

    def _import_attrs(self) -> dict[str, Any]:
        return {self.sampler._get_generation_key(): self.sampler.next_generation(self.study)}


class EvolutionTuner(_SamplerTuner):
    """EvaNet's tournament evolution as an NNI tuner: :class:`~g2l_automl.samplers.EvolutionSampler` behind
    NNI's tuner API. It is asynchronous (every finished trial updates the population), so it never waits.

    Args: as :class:`G2LGeneticTuner`, with :class:`~g2l_automl.samplers.EvolutionSampler` options
    (``population_size``, ``sample_size``, ``max_mutations``, ``anneal_rounds``, ``removal``).
    """

    sampler_name = "evolution"
