"""The study report: one self-contained HTML page (plotly.js inlined, no network) and the same figures on
optuna-dashboard."""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Sequence

import optuna
import plotly.graph_objects as go
import plotly.offline
from optuna.trial import TrialState

from g2l_automl._files import write_text_atomic
from g2l_automl.reports._figures import (
    best_so_far,
    comparison_figure,
    dilation_pattern_figure,
    figure_has_data,
    mean_dilation_figure,
    trajectory_figure,
)

_LOG = logging.getLogger(__name__)

#: What each section shows, in the order of the page.
SECTIONS = (
    ("history", "Optimisation history", "Each trial's value and the best so far (optuna.visualization)."),
    ("parallel", "Parallel coordinates", "Parameters of every trial, coloured by value (optuna.visualization)."),
    ("importances", "Parameter importances", "Which genes explain the value (optuna.visualization)."),
    ("pareto", "Pareto front", "Multi-objective studies: the trade-off between the objectives."),
    ("dilations", "Top structures", "G2L Fig. 6 in kind: every layer's dilation of the best structures."),
    ("mean_dilation", "Mean dilation per stage", "G2L Fig. 7 in kind: receptive field size against the value."),
    ("trajectories", "EGI trajectories", "G2L Fig. 4 in kind: dilations of refined trials at every EGI update."),
    ("comparison", "Sampler comparison", "G2L Fig. 5 in kind: best value so far of each study given."),
)


def _safe(name: str, make) -> go.Figure | None:  # noqa: ANN001
    try:
        with warnings.catch_warnings():  # e.g. importances from few trials per candidate: shown all the same
            warnings.simplefilter("ignore")
            return make()
    except Exception as exc:  # optuna.visualization refuses some studies (e.g. importances of one trial)
        _LOG.info("report: no %s figure: %s", name, exc)
        return None


def report_figures(studies: Sequence[optuna.Study], top_k: int = 10) -> dict[str, go.Figure]:
    """The report's figures for ``studies[0]`` (and the comparison of all of them when there are several);
    figures that cannot be drawn for the study or have no data are left out."""
    vis = optuna.visualization
    study = studies[0]
    multi = len(study.directions) > 1
    target = (lambda t: t.values[0]) if multi else None
    makers = {
        "history": lambda: vis.plot_optimization_history(study, target=target, target_name="objective 0"),
        "parallel": lambda: vis.plot_parallel_coordinate(study, target=target),
        "importances": lambda: vis.plot_param_importances(study, target=target),
        "pareto": (lambda: vis.plot_pareto_front(study)) if multi else None,
        "dilations": (lambda: dilation_pattern_figure(study, top_k)) if not multi else None,
        "mean_dilation": (lambda: mean_dilation_figure(study)) if not multi else None,
        "trajectories": lambda: trajectory_figure(study),
        "comparison": (
            lambda: comparison_figure({s.study_name: [best_so_far(s)] for s in studies}, "Best value so far per study")
        )
        if len(studies) > 1
        else None,
    }
    figures = {}
    for name, make in makers.items():
        if make is None:
            continue
        fig = _safe(name, make)
        if fig is not None and figure_has_data(fig):
            figures[name] = fig
    return figures


def render_report(studies: Sequence[optuna.Study], figures: dict[str, go.Figure]) -> str:
    """The HTML page: a summary table and one section per figure, plotly.js inlined once."""
    study = studies[0]
    trials = study.get_trials(deepcopy=False)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState if any(t.state == s for t in trials)}
    best = ""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(study.directions) == 1:
        b = study.best_trial
        best = f"<p>Best: trial {b.number}, value {b.value:.4g}.</p>"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>g2l_automl report: {html.escape(study.study_name)}</title>",
        "<script type='text/javascript'>" + plotly.offline.get_plotlyjs() + "</script>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px} h2{margin-top:1.5em} "
        ".note{color:#555}</style></head><body>",
        f"<h1>Study {html.escape(study.study_name)}</h1>",
        f"<p>{len(trials)} trials: "
        + ", ".join(f"{n} {k.lower()}" for k, n in counts.items())
        + "; directions "
        + ", ".join(d.name.lower() for d in study.directions)
        + ".</p>",
        best,
    ]
    if len(studies) > 1:
        parts.append("<p>Compared with: " + ", ".join(html.escape(s.study_name) for s in studies[1:]) + ".</p>")
    for key, title, note in SECTIONS:
        if key in figures:
            div = figures[key].to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{key}")
            parts += [f"<h2 id='{key}'>{title}</h2>", f"<p class='note'>{note}</p>", div]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    studies: Sequence[optuna.Study], out: str, top_k: int = 10, dashboard: bool = True
) -> dict[str, go.Figure]:
    """Write the report of ``studies[0]`` (compared with the others) to ``out``; with ``dashboard`` the figures
    are also saved to the study for optuna-dashboard. Returns the figures."""
    if not studies:
        raise ValueError("write_report: no study given")
    figures = report_figures(studies, top_k)
    write_text_atomic(out, render_report(studies, figures))
    if dashboard:
        push_to_dashboard(studies[0], figures)
    return figures


def push_to_dashboard(study: optuna.Study, figures: dict[str, go.Figure]) -> None:
    """Save our own figures to the study (``optuna_dashboard.save_plotly_graph_object``), so optuna-dashboard
    shows them next to its built-in plots; Optuna's own plots are already there."""
    from optuna_dashboard import save_plotly_graph_object

    for key in ("dilations", "mean_dilation", "trajectories", "comparison"):
        if key in figures:
            save_plotly_graph_object(study, figures[key], graph_object_id=f"g2l-{key}")
