"""Reports: the G2L paper's figures in kind (Fig. 4-7), Optuna's own plots and sampler comparisons, as one
self-contained HTML page and on optuna-dashboard."""

from g2l_automl._attrs import trial_structure
from g2l_automl.reports._figures import (
    best_so_far,
    best_so_far_by_epochs,
    compare_figure,
    comparison_figure,
    dilation_pattern_figure,
    figure_has_data,
    mean_dilation_figure,
    study_epochs,
    trajectory_figure,
    trial_epochs,
)
from g2l_automl.reports._html import SECTIONS, push_to_dashboard, render_report, report_figures, write_report

__all__ = [
    "SECTIONS",
    "best_so_far",
    "best_so_far_by_epochs",
    "compare_figure",
    "comparison_figure",
    "dilation_pattern_figure",
    "figure_has_data",
    "mean_dilation_figure",
    "push_to_dashboard",
    "render_report",
    "report_figures",
    "study_epochs",
    "trajectory_figure",
    "trial_epochs",
    "trial_structure",
    "write_report",
]
