"""The study report: one self-contained HTML page (plotly.js inlined, no network) and the same figures on
optuna-dashboard."""

from __future__ import annotations

import html
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
import plotly.offline
from optuna.trial import TrialState

from g2l_automl import _attrs as attrs
from g2l_automl._files import write_text_atomic
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
    (
        "compare",
        "Searched vs baseline (test split)",
        "g2l-optimize compare: the config's base structure and the searched structure(s), each trained with the "
        "same K seeds on the whole train list and scored on the test list; bars: mean, error bars: std over the "
        "seeds. The table gives searched - baseline, paired seed by seed (spread: std of the paired differences); "
        "better/worse where the mean difference exceeds 2 standard errors (std/sqrt(K)), else inconclusive.",
    ),
)


def _comparison(studies: Sequence[optuna.Study], points: int = 100) -> go.Figure:
    """Best value so far per study against training epochs when every study records its trials' epochs (the
    fair axis when candidates cost different epochs, e.g. pruned or refined ones), else against trials."""
    totals = [study_epochs(s) for s in studies]
    if all(t is not None for t in totals) and max(totals) > 0:
        step = max(1, math.ceil(max(totals) / points))
        grid = step * np.arange(1, math.ceil(max(totals) / step) + 1)
        curves = {s.study_name: [best_so_far_by_epochs(s, grid)] for s in studies}
        return comparison_figure(curves, "Best value so far per study", step=step, x_title="training epochs")
    return comparison_figure({s.study_name: [best_so_far(s)] for s in studies}, "Best value so far per study")


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
        "comparison": (lambda: _comparison(studies)) if len(studies) > 1 else None,
        "compare": (lambda: compare_figure(study.user_attrs[attrs.COMPARE]))
        if attrs.COMPARE in study.user_attrs
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


def _short(verdict: str) -> str:
    return "inconclusive" if verdict.startswith("inconclusive") else verdict


def _compare_table(summary: Mapping[str, Any]) -> str:
    """The difference table of ``g2l-optimize compare``'s summary: mean +- std per metric and structure, then
    searched - baseline per searched structure with its verdict per metric and its verdict line."""
    try:
        metrics = list(summary["metrics"])
        head = "<tr><th>structure</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>"
        rows = []
        for s in summary["structures"]:
            cells = "".join(f"<td>{s['mean'][m]:.1f} &plusmn; {s['std'][m]:.1f}</td>" for m in metrics)
            rows.append(f"<tr><td>{html.escape(s['label'])} ({html.escape(s['summary'])})</td>{cells}</tr>")
        for d in summary["differences"]:
            cells = "".join(
                f"<td>{d['mean'][m]:+.1f} &plusmn; {d['std'][m]:.1f} ({html.escape(_short(d['verdict'][m]))})</td>"
                for m in metrics
            )
            rows.append(f"<tr><td>difference: {html.escape(d['label'])} - baseline</td>{cells}</tr>")
        lines = "".join(f"<li>{html.escape(d['line'])}</li>" for d in summary["differences"])
        seeds = ", ".join(str(s) for s in summary["seeds"])
        return (
            f"<p>Test split {summary['split']} ({summary['test_videos']} videos), {summary['epochs']} epochs, "
            f"seeds {html.escape(seeds)}.</p><table class='compare'>{head}{''.join(rows)}</table><ul>{lines}</ul>"
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _LOG.info("report: no compare table: %s", exc)
        return "<p class='note'>The study's 'compare' user attr could not be read.</p>"


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
        ".note{color:#555} table.compare{border-collapse:collapse} table.compare td,table.compare th"
        "{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right} table.compare td:first-child{text-align:left}"
        "</style></head><body>",
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
            if key == "compare":
                parts.append(_compare_table(study.user_attrs[attrs.COMPARE]))
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

    for key in ("dilations", "mean_dilation", "trajectories", "comparison", "compare"):
        if key in figures:
            save_plotly_graph_object(study, figures[key], graph_object_id=f"g2l-{key}")
