"""Plotly figures of structure searches: the G2L paper's Figures 4-7 in kind, and sampler comparisons."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from g2l_automl import _attrs as attrs
from g2l_automl._attrs import trial_structure
from g2l_automl.samplers import sort_best_first
from g2l_automl.structure import StructureSpec


def _scored(study: optuna.Study) -> list[tuple[FrozenTrial, StructureSpec]]:
    """COMPLETE single-objective trials with a structure, best first."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ordered = sort_best_first(study, complete)
    return [(t, s) for t in ordered if (s := trial_structure(t)) is not None]


def dilation_pattern_figure(study: optuna.Study, top_k: int = 10) -> go.Figure:
    """Figure 6 in kind: the dilation of every layer (columns, grouped by stage) of the ``top_k`` structures
    (rows, best on top), coloured by log2 of the dilation."""
    best = _scored(study)[:top_k]
    fig = go.Figure()
    if best:
        spec0 = best[0][1]
        columns = [f"s{s}.l{i}" for s, i, _ in spec0.layers()]
        rows, text = [], []
        for _, spec in best:
            flat = [layer.dilation for _, _, layer in spec.layers()]
            flat = (flat + [math.nan] * len(columns))[: len(columns)]
            rows.append([math.log2(d) if d == d else math.nan for d in flat])
            text.append([str(d) if d == d else "" for d in flat])
        labels = [f"#{t.number} ({t.values[0]:.1f})" for t, _ in best]
        fig.add_trace(
            go.Heatmap(
                z=rows,
                x=columns,
                y=labels,
                text=text,
                texttemplate="%{text}",
                colorscale="Viridis",
                colorbar={"title": "log2 dilation"},
                hovertemplate="%{y} %{x}: dilation %{text}<extra></extra>",
            )
        )
        fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=f"Dilations of the top {len(best)} structures (trial number and value)", xaxis_title="stage.layer"
    )
    return fig


def mean_dilation_figure(study: optuna.Study) -> go.Figure:
    """Figure 7 in kind: the mean dilation of each stage of every scored structure against its value."""
    scored = _scored(study)
    fig = go.Figure()
    num_stages = max((len(s.stages) for _, s in scored), default=0)
    for stage in range(num_stages):
        xs, ys, names = [], [], []
        for trial, spec in scored:
            if stage < len(spec.stages):
                xs.append(float(np.mean([layer.dilation for layer in spec.stages[stage].layers])))
                ys.append(trial.values[0])
                names.append(f"trial {trial.number}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"stage {stage}", text=names))
    fig.update_layout(
        title="Mean dilation per stage against the objective value",
        xaxis_title="mean dilation",
        yaxis_title="objective value",
        xaxis_type="log",
    )
    return fig


def trajectory_figure(study: optuna.Study) -> go.Figure:
    """Figure 4 in kind: every layer's dilation after each EGI update, for each refined trial (user attr
    ``trajectory``)."""
    fig = go.Figure()
    for trial in study.get_trials(deepcopy=False):
        steps = trial.user_attrs.get(attrs.TRAJECTORY)
        if not steps:
            continue
        epochs = [step["epoch"] for step in steps]
        for s, stage in enumerate(steps[0]["dilations"]):
            for i in range(len(stage)):
                ys = []
                for step in steps:
                    d = step["dilations"][s][i]
                    ys.append(d[0] if isinstance(d, list) else d)
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=ys,
                        mode="lines+markers",
                        name=f"trial {trial.number} s{s}.l{i}",
                        legendgroup=f"trial {trial.number}",
                    )
                )
    fig.update_layout(
        title="EGI local search: each layer's dilation at every update",
        xaxis_title="epoch",
        yaxis_title="dilation",
        yaxis_type="log",
    )
    return fig


def best_so_far(study: optuna.Study, n_trials: int | None = None) -> np.ndarray:
    """The best value after each trial in number order (NaN before the first COMPLETE one), single objective;
    with ``n_trials`` the curve is cut or padded (with its last value) to that length."""
    maximize = study.direction == StudyDirection.MAXIMIZE
    best, out = math.nan, []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
            if best != best or (t.value > best if maximize else t.value < best):
                best = t.value
        out.append(best)
    if n_trials is not None:
        out = (out + [out[-1] if out else math.nan] * n_trials)[:n_trials]
    return np.asarray(out, dtype=float)


def trial_epochs(trial: FrozenTrial) -> int | None:
    """The training epochs a trial spent (its ``epochs`` user attr, written by the objectives: every repeat,
    the epochs before a prune, EGI refinement included; 0 for a structure scored before), or None."""
    value = trial.user_attrs.get(attrs.EPOCHS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _epoch_points(study: optuna.Study) -> list[tuple[int, float]] | None:
    """``(epochs spent, best value)`` after each finished trial in number order (each at its
    :func:`trial_epochs`; a FAIL trial that recorded nothing failed before training and cost nothing); None when a
    COMPLETE or PRUNED trial did not record its epochs (a study from before they were recorded)."""
    maximize = study.direction == StudyDirection.MAXIMIZE
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    spent, best, points = 0, math.nan, []
    for t in sorted(study.get_trials(deepcopy=False, states=finished), key=lambda t: t.number):
        epochs = trial_epochs(t)
        if epochs is None:
            if t.state == TrialState.FAIL:
                continue
            return None
        spent += epochs
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
            if best != best or (t.value > best if maximize else t.value < best):
                best = t.value
        points.append((spent, best))
    return points


def best_so_far_by_epochs(study: optuna.Study, grid: Sequence[float]) -> np.ndarray | None:
    """The best value after the training epochs of ``grid`` (NaN before the first COMPLETE trial), single
    objective; None when a finished trial did not record its epochs (see :func:`study_epochs`)."""
    points = _epoch_points(study)
    if points is None:
        return None
    spent = np.array([x for x, _ in points])
    best = np.array([math.nan] + [y for _, y in points])
    return best[np.searchsorted(spent, np.asarray(grid, dtype=float), side="right")]


def study_epochs(study: optuna.Study) -> int | None:
    """Total training epochs of a study's finished trials, or None when one did not record them."""
    points = _epoch_points(study)
    return None if points is None else (points[-1][0] if points else 0)


def comparison_figure(
    curves: Mapping[str, Sequence[np.ndarray]],
    title: str = "Best value so far",
    step: float = 1.0,
    x_title: str = "trials",
) -> go.Figure:
    """Figure 5 in kind: per group (e.g. a sampler over several seeds), the median best-so-far curve with the
    25-75 % band (the band is the min-max range when there are fewer than 4 runs). Point ``k`` of a curve is drawn
    at ``k * step`` (e.g. training epochs when the curves are sampled on an epoch grid)."""
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for k, (label, runs) in enumerate(curves.items()):
        length = min(len(r) for r in runs)
        data = np.vstack([r[:length] for r in runs])
        x = np.arange(1, length + 1) * step
        lo, hi = (25, 75) if len(runs) >= 4 else (0, 100)
        low, high = np.nanpercentile(data, lo, axis=0), np.nanpercentile(data, hi, axis=0)
        colour = palette[k % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([high, low[::-1]]),
                fill="toself",
                fillcolor=colour,
                opacity=0.2,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=label,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.nanmedian(data, axis=0),
                mode="lines",
                name=f"{label} (n={len(runs)})",
                line={"color": colour},
                legendgroup=label,
            )
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="best value (median, band: spread)")
    return fig


def compare_figure(summary: Mapping[str, Any]) -> go.Figure:
    """``g2l-optimize compare``'s summary (the study's ``compare`` user attr): per metric, one bar per structure
    (baseline first) at the mean over the seeds, with the standard deviation as error bar."""
    metrics = list(summary.get("metrics") or [])
    fig = go.Figure()
    for s in summary.get("structures", []):
        fig.add_trace(
            go.Bar(
                x=metrics,
                y=[s["mean"][m] for m in metrics],
                error_y={"type": "data", "array": [s["std"][m] for m in metrics], "visible": True},
                customdata=[s["std"][m] for m in metrics],
                name=s["label"],
                hovertemplate="%{x}: %{y:.1f} +- %{customdata:.1f}<extra>%{fullData.name}</extra>",
            )
        )
    seeds = len(summary.get("seeds", []))
    fig.update_layout(
        title=f"Searched vs baseline on test split {summary.get('split', '?')}: mean +- std over {seeds} paired seeds",
        xaxis_title="metric",
        yaxis_title="test score (%)",
        barmode="group",
    )
    return fig


def figure_has_data(fig: go.Figure) -> bool:
    """Whether any trace of ``fig`` holds at least one point."""
    for trace in fig.data:
        for key in ("z", "y", "values", "dimensions"):
            value: Any = getattr(trace, key, None)
            if value is not None and len(value):
                return True
    return False
