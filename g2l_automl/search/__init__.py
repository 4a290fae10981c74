"""Running searches against Optuna storage: opening studies, one worker's loop, summaries."""

from g2l_automl.search._run import best_summary, build_objective, describe, run_search
from g2l_automl.search._storage import load_study, open_storage

__all__ = ["best_summary", "build_objective", "describe", "load_study", "open_storage", "run_search"]
