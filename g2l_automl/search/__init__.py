"""Running searches against Optuna storage: opening studies, one worker's loop, summaries, ensembles, and the
final comparison of searched structures with the baseline."""

from g2l_automl._attrs import trial_structure
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
from g2l_automl.search._diversity import hamming_distance, pairwise_distances, structure_genes
from g2l_automl.search._ensemble import (
    DEFAULT_MIN_DISTANCE,
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
)
from g2l_automl.search._refine import pick_trials, refine_study
from g2l_automl.search._run import (
    best_summary,
    build_objective,
    config_trainer,
    describe,
    format_dilations,
    make_local_search,
    run_search,
)
from g2l_automl.search._storage import display_url, hide_password, load_study, open_storage
from g2l_automl.search._videonas_run import (
    format_columns,
    retrain_videonas,
    run_videonas_differentiable,
    run_videonas_optuna,
)
from g2l_automl.search._warm_start import WarmStart, enqueue_warm_starts, parse_source, warm_starts

__all__ = [
    "DEFAULT_MIN_DISTANCE",
    "INCONCLUSIVE",
    "Arm",
    "ArmResult",
    "CompareResult",
    "EnsembleMember",
    "EnsembleResult",
    "LoadedSplit",
    "ScoredModel",
    "WarmStart",
    "baseline_label",
    "compare_structures",
    "best_summary",
    "build_objective",
    "config_trainer",
    "describe",
    "display_url",
    "enqueue_warm_starts",
    "ensemble_study",
    "format_columns",
    "format_compare",
    "format_dilations",
    "hamming_distance",
    "hide_password",
    "late_fusion",
    "load_study",
    "load_test_split",
    "make_local_search",
    "open_storage",
    "paired_difference",
    "parse_source",
    "pairwise_distances",
    "pick_trials",
    "refine_study",
    "retrain_videonas",
    "run_search",
    "run_videonas_differentiable",
    "run_videonas_optuna",
    "select_members",
    "structure_genes",
    "study_arms",
    "summarize_structure",
    "train_and_score",
    "trial_structure",
    "verdict",
    "warm_starts",
]
