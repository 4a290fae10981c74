"""``search``'s progress: a tqdm bar with an ETA over this worker's trials and a one-line summary of the study's
best so far at every generation."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from g2l_automl._attrs import trial_structure
from g2l_automl.search import summarize_structure

GENERATION_SUFFIX = ":generation"  # BaseGASampler's system attr, f"{sampler class}:generation"


def _generation(trial: FrozenTrial) -> int | None:
    for key, value in trial.system_attrs.items():
        if key.endswith(GENERATION_SUFFIX) and isinstance(value, int):
            return value
    return None


def best_line(study: optuna.Study) -> str:
    """The study's best so far in one line: value, trial and structure (for several objectives, the front)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return f"no complete trial yet ({len(study.trials)} trials)"
    if len(study.directions) > 1:
        return f"Pareto front of {len(study.best_trials)} trials, {len(complete)} complete of {len(study.trials)}"
    best = study.best_trial
    spec = trial_structure(best)
    shape = f": {summarize_structure(spec)}" if spec is not None else ""
    return f"best {best.value:.2f} (trial {best.number}{shape}), {len(complete)} complete of {len(study.trials)}"


class SearchProgress:
    """A search callback and log: ``log`` prints above the bar, ``__call__`` advances it after each trial and
    prints :func:`best_line` when a generation is over (the G2L sampler's generations; otherwise every
    ``population`` trials of this worker). Without a terminal (logs, CI) the bar's line is printed after each
    trial instead of redrawn."""

    def __init__(self, total: int, population: int, file: TextIO | None = None) -> None:
        self.file = file if file is not None else sys.stderr
        self.total, self.population = total, max(1, population)
        self.interactive = bool(getattr(self.file, "isatty", lambda: False)())
        self.bar = tqdm(total=total, unit="trial", desc="search", file=self.file, disable=not self.interactive)
        self.start = time.monotonic()
        self.done = 0
        self.generation: int | None = None

    def log(self, line: str) -> None:
        if self.interactive:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.done += 1
        self.bar.update(1)
        if not self.interactive:
            meter = tqdm.format_meter(self.done, self.total, time.monotonic() - self.start, unit="trial")
            print(f"progress {meter}", file=self.file, flush=True)
        generation = _generation(trial)
        if generation is None:
            generation = (self.done - 1) // self.population
        if self.generation is not None and generation > self.generation:
            self.log(f"generation {self.generation} done: {best_line(study)}")
        self.generation = generation if self.generation is None else max(self.generation, generation)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> SearchProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
