"""Running searches against Optuna storage: opening studies, one worker's loop, summaries, ensembles."""

from g2l_automl.search._ensemble import (
    EnsembleMember,
    EnsembleResult,
    ensemble_study,
    late_fusion,
    select_members,
    summarize_structure,
    trial_structure,
)
from g2l_automl.search._refine import pick_trials, refine_study
from g2l_automl.search._run import (
    best_summary,
    build_objective,
    describe,
    format_dilations,
    make_local_search,
    run_search,
)
from g2l_automl.search._storage import display_url, hide_password, load_study, open_storage

__all__ = [
    "EnsembleMember",
    "EnsembleResult",
    "best_summary",
    "build_objective",
    "describe",
    "display_url",
    "ensemble_study",
    "format_dilations",
    "hide_password",
    "late_fusion",
    "load_study",
    "make_local_search",
    "open_storage",
    "pick_trials",
    "refine_study",
    "run_search",
    "select_members",
    "summarize_structure",
    "trial_structure",
]
