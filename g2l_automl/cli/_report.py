"""``g2l-optimize report``: a self-contained HTML report of a study (and a comparison with others)."""

from __future__ import annotations

import argparse
import os

import optuna

from g2l_automl._files import check_out_file
from g2l_automl.cli._common import check_option
from g2l_automl.reports import SECTIONS, write_report
from g2l_automl.search import load_study


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="write an HTML report of a study",
        description="Write one self-contained HTML page (plotly.js inlined, opens with no network): Optuna's "
        "history, parallel coordinates and importances (Pareto front for two objectives), the dilation pattern of "
        "the top structures, mean dilation per stage against the value, EGI trajectories of refined trials, and "
        "with several --study-name the best-so-far comparison of all of them. The same figures are saved to the "
        "first study for optuna-dashboard.",
    )
    p.add_argument("--storage", required=True, help="sqlite:///x.db, postgresql://..., or a journal file path")
    p.add_argument(
        "--study-name", required=True, action="append", help="the study to report; repeat to compare studies"
    )
    p.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    p.add_argument("--top", type=int, default=10, help="structures in the dilation pattern figure (default: 10)")
    p.add_argument("--no-dashboard", action="store_true", help="do not save the figures to the study")


def run(args: argparse.Namespace) -> int:
    check_option("--top", args.top, 1)
    check_out_file(args.out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = [load_study(args.storage, name) for name in args.study_name]
    figures = write_report(studies, args.out, top_k=args.top, dashboard=not args.no_dashboard)
    titles = [title for key, title, _ in SECTIONS if key in figures]
    print(f"report of study {args.study_name[0]!r} ({len(figures)} figures: {', '.join(titles)})")
    print(f"wrote {os.path.abspath(args.out)}")
    return 0
