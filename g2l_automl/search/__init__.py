"""Running searches against Optuna storage: opening studies, one worker's loop, summaries, ensembles, and the
final comparison of searched structures with the baseline."""

from g2l_automl.search._compare import (
    INCONCLUSIVE,
    Arm,
    ArmResult,
    CompareResult,
    baseline_label,
    compare_structures,
    format_compare,
    paired_difference,
    study_arms,
    verdict,
)
from g2l_automl.search._ensemble import (
    EnsembleMember,
    EnsembleResult,
    LoadedSplit,
    ScoredModel,
    ensemble_study,
    late_fusion,
    load_test_split,
    select_members,
    summarize_structure,
    train_and_score,
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
    "INCONCLUSIVE",
    "Arm",
    "ArmResult",
    "CompareResult",
    "EnsembleMember",
    "EnsembleResult",
    "LoadedSplit",
    "ScoredModel",
    "baseline_label",
    "compare_structures",
    "best_summary",
    "build_objective",
    "describe",
    "display_url",
    "ensemble_study",
    "format_compare",
    "format_dilations",
    "hide_password",
    "late_fusion",
    "load_study",
    "load_test_split",
    "make_local_search",
    "open_storage",
    "paired_difference",
    "pick_trials",
    "refine_study",
    "run_search",
    "select_members",
    "study_arms",
    "summarize_structure",
    "train_and_score",
    "trial_structure",
    "verdict",
]
