"""Does G2L-style search beat what Optuna already has, for the same compute? Every sampler searches the same space
with the same objective for the same number of trials over several seeds; every run is a study in one storage.

Objectives:
- ``proxy``: :class:`g2l_automl.objective.ProxyObjective`, a deterministic score of the dilations against a hidden
  target (MS-TCN 2 stages x 10 layers, D_g = {2^0..2^10}: 20 genes of 11 candidates); microseconds a trial.
- ``proxy2``: :class:`g2l_automl.objective.EpistaticProxyObjective` on the same space, a second landscape of a
  different shape: an NK landscape (K = 1) along each stage's layers, where each layer's contribution is a random
  table of its own and the next layer's dilation, so the landscape is rugged and epistatic (good contiguous runs
  of layers are building blocks) and the candidates' order means nothing; 100 is the optimum.
- ``train``: candidate training as in G2L's global search, in kind, on the rf-planted preset (whose best receptive
  field is known) with ``studies/synthetic-rf-planted.yaml``: MS-TCN 2 stages x 6 layers x 32 maps,
  D_g = {2^0..2^8}, 12 epochs per candidate, fitness validation F1@10; about 4 s a trial. Compute is counted in
  training epochs (a structure the study already scored costs nothing: the objective returns its value), every
  run stops at ``--epochs`` epochs, the curves are best-so-far against epochs, and each run's final structure is
  re-trained with 3 seeds on the whole train list and scored on the test split (``--final-seeds``), next to
  MS-TCN's 2^i and the planted optimum. ``--jobs 2`` runs two studies at once (one torch thread each).

CMA-ES searches the candidates' indices as integers (``encoding="index"``); the others search categories.
``--g2l-options '{"selection": "rank"}'`` passes options to G2L; ``--variants rank='{"selection": "rank"}' ...``
adds G2L rows (``g2l:rank``) with other options, so settings run side by side with the same seeds; a variant of
another sampler is named ``SAMPLER:LABEL`` (``tpe:r2='{...}'``), and a variant's ``"objective"`` entry changes that
row's objective settings (``train``: e.g. ``{"objective": {"rescore_top": 2}}``). Output:
the median (and min-max) best value at 25/50/100 % of the budget, how many trials each sampler needed to reach
random search's final best of the same seed, and a plotly figure of best-so-far vs trials with spread bands.

    python benchmarks/compare_samplers.py --objective proxy [--trials 150] [--seeds 0 1 2 3 4] [--storage FILE]
    python benchmarks/compare_samplers.py --objective proxy2 --variants paper='{"selection": "roulette"}'
    python benchmarks/compare_samplers.py --objective train [--epochs 360] [--seeds 0 1 2 3 4] [--jobs 2]
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import multiprocessing
import os
import platform
import tempfile
import time

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from g2l_automl.config import StudyConfig, load_config
from g2l_automl.data import PRESETS, generate, planted_dilations
from g2l_automl.objective import EpistaticProxyObjective, ProxyObjective
from g2l_automl.pruners import make_pruner
from g2l_automl.reports import best_so_far, best_so_far_by_epochs, comparison_figure, study_epochs
from g2l_automl.samplers import SAMPLERS, make_sampler
from g2l_automl.search import (
    build_objective,
    config_trainer,
    load_test_split,
    make_local_search,
    open_storage,
    refine_study,
    train_and_score,
)
from g2l_automl.spaces import Dilations, SearchSpace, check_encoding
from g2l_automl.structure import StructureSpec
from g2l_automl.training import replace_trainer

PLANTED_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "studies", "synthetic-rf-planted.yaml")


#: ``--storage memory``: every study in this process's memory (nothing kept; no journal writes, so proxy runs take
#: a fraction of a second instead of seconds of file I/O).
MEMORY = "memory"
_MEMORY = optuna.storages.InMemoryStorage()

#: The row of G2L's whole pipeline (--pipeline): global search with a pruner, then EGI refinement of the best.
PIPELINE = "g2l+pipeline"
PROXIES = {"proxy": ProxyObjective, "proxy2": EpistaticProxyObjective}
#: --pipeline keys that are the row's objective settings (the rest: pruner, refine_top).
PIPELINE_OBJECTIVE = ("report", "rescore_top", "rotate_val")


def _setup(objective: str, tmp: str) -> tuple[SearchSpace, StudyConfig | None]:
    if objective in PROXIES:
        return SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=10), [Dilations(k=2, T=10)]), None
    root = generate(os.path.join(tmp, "rf-planted"), "rf-planted", seed=0)
    config = load_config(PLANTED_CONFIG, data_root=str(root))
    return config.space, config


def _objective(objective: str, space: SearchSpace, config: StudyConfig | None, encoding: str):  # noqa: ANN202
    if objective in PROXIES:
        return PROXIES[objective](space, seed=0, encoding=encoding)
    built = build_objective(config, "cpu")
    built.encoding = check_encoding(encoding)
    return built


def _sampler_options(name: str, population: int) -> dict:
    """Equal footing: the GA population and the model-based samplers' random start have the same size."""
    if name in ("g2l", "nsga2") or name.startswith("g2l:"):
        return {"population_size": population}
    if name == "evolution":
        return {
            "population_size": population,
            "sample_size": max(2, population // 4),
            "max_mutations": 3,
            "anneal_rounds": population,
        }
    if name in ("tpe", "gp", "cmaes"):
        return {"n_startup_trials": population}
    return {}


def run(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        storage_path = args.storage or os.path.join(tmp, "compare.log")
        if storage_path != MEMORY:
            open_storage(storage_path, create=True)
        space, config = _setup(args.objective, tmp)
        if config is not None and args.repeats is not None:  # trainings per candidate (the fitness's noise control)
            config.objective["repeats"] = args.repeats
        if config is not None:  # the curves' grid: the epochs of one trained candidate
            args.step = config.training["epochs"] * config.objective["repeats"]
        jobs = [(name, seed) for name in args.samplers for seed in args.seeds]
        work = functools.partial(_one_run, args, storage_path, space, config)
        if args.jobs > 1:
            with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
                results = pool.starmap(work, jobs)
        else:
            results = [work(*job) for job in jobs]
        curves: dict[str, list[np.ndarray]] = {}
        seconds: dict[str, float] = {}
        finals: dict[str, list[StructureSpec]] = {}
        for (name, _), (curve, secs, final) in zip(jobs, results, strict=True):
            curves.setdefault(name, []).append(curve)
            seconds[name] = seconds.get(name, 0.0) + secs
            finals.setdefault(name, []).append(final)
        _print_table(args, curves, seconds, storage_path)
        if config is not None:
            _print_finals(args, config, finals)
        if args.figure:
            unit = f"training epochs (one point per {args.step} epochs)" if config is not None else "trials"
            fig = comparison_figure(
                curves,
                f"{args.objective} objective: best value so far ({len(args.seeds)} seeds, median and 25-75 %)",
                step=args.step if config is not None else 1,
                x_title=unit,
            )
            fig.write_html(args.figure, include_plotlyjs=True)
            print(f"figure: {os.path.abspath(args.figure)}")


def _one_run(
    args: argparse.Namespace, storage_path: str, space: SearchSpace, config: StudyConfig | None, name: str, seed: int
) -> tuple[np.ndarray, float, StructureSpec | None]:
    """One sampler, one seed: the best-so-far curve (per trial, or on the epoch grid), seconds, final structure."""
    if args.jobs > 1:
        torch.set_num_threads(1)
    encoding = "index" if name == "cmaes" else "categorical"
    base = name.split(":")[0].split("+")[0]
    variant = dict(args.variants.get(name, {}))
    # the row's objective settings: the pipeline's (e.g. report: val_loss, which the pruner sees) or a variant's
    changes = {k: v for k, v in args.pipeline.items() if k in PIPELINE_OBJECTIVE} if name == PIPELINE else {}
    changes.update(variant.pop("objective", {}))
    if config is not None and changes:
        config = copy.deepcopy(config)
        config.objective.update(changes)
    objective = _objective(args.objective, space, config, encoding)
    options = _sampler_options(base, args.population)
    if base == "g2l":
        options.update(args.g2l_options)
    options.update(variant)
    study = optuna.create_study(
        storage=_MEMORY if storage_path == MEMORY else open_storage(storage_path),
        study_name=f"{args.objective}-{name}-seed{seed}",
        direction="maximize",
        sampler=make_sampler(base, space, options, seed=seed),
        # no pruning unless the row asks for it (create_study's default would be Optuna's MedianPruner)
        pruner=make_pruner(args.pipeline.get("pruner", {}), args.population)
        if name == PIPELINE
        else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    start = time.perf_counter()
    if config is None:
        todo = args.trials - len(study.trials)
        if todo > 0:
            study.optimize(objective, n_trials=todo, catch=(Exception,))
        return best_so_far(study, args.trials), time.perf_counter() - start, None
    per_trial = config.training["epochs"] * config.objective["repeats"]
    pipeline = args.pipeline if name == PIPELINE else {}
    refine_top = int(pipeline.get("refine_top", 0))
    # the EGI refinement of the best at the end: its epochs (supernet, then scoring) are kept out of the search
    reserve = refine_top * (config.refine["epochs"] + per_trial)

    def search_until(budget: int) -> None:
        # every trial records the epochs it trained (a re-run continues the stored study)
        while study_epochs(study) < budget and len(study.trials) < args.max_trials:
            study.optimize(objective, n_trials=1, catch=(Exception,))

    search_until(args.epochs - reserve)
    if refine_top and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        search = make_local_search(config, "cpu")
        refine_study(study, objective, search, top=refine_top, log=lambda *_: None)
    search_until(args.epochs)  # what the refinement did not use
    seconds = time.perf_counter() - start
    final = StructureSpec.from_dict(study.best_trial.user_attrs["structure"]) if study.best_trial else None
    curve = best_so_far_by_epochs(study, range(args.step, args.epochs + 1, args.step))
    return curve, seconds, final


def _print_finals(args: argparse.Namespace, config: StudyConfig, finals: dict[str, list[StructureSpec]]) -> None:
    """Each run's final structure re-trained with ``--final-seeds`` seeds and scored on the test split; per sampler
    the median and range over runs of the per-run mean, next to MS-TCN's 2^i and the planted optimum."""
    data = load_test_split(config)
    trainer = config_trainer(config, "cpu")
    choices = config.space.gene("stage0.layer0.dilation").choices
    layers = len(config.structure.stages[0].layers)
    base = config.structure
    planted = base.with_dilations([planted_dilations(PRESETS["rf-planted"], layers, choices)] * len(base.stages))
    groups = {"MS-TCN 2^i": [config.structure], "planted optimum": [planted], **finals}
    jobs = [(label, k, spec, seed) for label, specs in groups.items() for k, spec in enumerate(specs)
            for seed in range(args.final_seeds)]  # fmt: skip
    work = functools.partial(_test_score, data, trainer, args.jobs > 1)
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            scores = pool.starmap(work, [(spec, seed) for _, _, spec, seed in jobs])
    else:
        scores = [work(spec, seed) for _, _, spec, seed in jobs]
    per_run: dict[str, dict[int, list[dict]]] = {}
    for (label, k, _, _), metrics in zip(jobs, scores, strict=True):
        per_run.setdefault(label, {}).setdefault(k, []).append(metrics)
    print(f"\nfinal structures re-trained with {args.final_seeds} seeds on the whole train list, test split "
          f"(median over runs of the per-run mean, min..max):")  # fmt: skip
    print(f"{'structure':<18}{'F1@10':>22}{'Edit':>22}{'Acc':>22}  runs")
    for label, runs in per_run.items():
        cells = ""
        for metric in ("F1@10", "Edit", "Acc"):
            means = [float(np.mean([m[metric] for m in seeds])) for seeds in runs.values()]
            cells += f"{f'{np.median(means):.1f} ({min(means):.1f}..{max(means):.1f})':>22}"
        print(f"{label:<18}{cells}  {len(runs)}")
    for name, specs in finals.items():
        shown = ["/".join(" ".join(str(d) for d in st) for st in spec.dilations()) for spec in specs if spec]
        print(f"  {name} final structures: {'; '.join(shown)}")


def _test_score(data, trainer, one_thread: bool, spec: StructureSpec, seed: int) -> dict:  # noqa: ANN001
    if one_thread:
        torch.set_num_threads(1)
    return train_and_score(spec, data, replace_trainer(trainer, seed=seed), seed).metrics


def _print_table(args: argparse.Namespace, curves: dict[str, list[np.ndarray]], seconds: dict, storage: str) -> None:
    n = args.trials if args.objective in PROXIES else args.epochs // args.step
    marks = [max(1, math.ceil(n * f)) for f in (0.25, 0.5, 1.0)]
    unit = "trials" if args.objective in PROXIES else f"x {args.step} epochs"
    budget = f"{n} trials" if args.objective in PROXIES else f"{args.epochs} epochs"
    print(
        f"objective {args.objective}, {budget} x {len(args.seeds)} seeds {args.seeds} (marks in {unit}), "
        f"population/startup "
        f"{args.population}; machine {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"optuna {optuna.__version__}; studies in {storage}"
    )
    heads = "".join(f"{f'best @{m}':>22}" for m in marks)
    width = max(10, *(len(name) + 1 for name in curves))
    print(f"{'sampler':<{width}}{heads}{f'{unit} to random best':>24}{'seconds':>9}")
    random_final = [run[-1] for run in curves.get("random", [])]
    for name, runs in curves.items():
        cells = ""
        for m in marks:
            values = np.array([run[m - 1] for run in runs])
            cell = f"{np.nanmedian(values):.2f} ({np.nanmin(values):.2f}..{np.nanmax(values):.2f})"
            cells += f"{cell:>22}"
        reach = ""
        if random_final:
            hits = []
            for run, target in zip(runs, random_final, strict=False):
                idx = np.flatnonzero(run >= target)
                hits.append(int(idx[0]) + 1 if idx.size else None)
            reached = [h for h in hits if h is not None]
            reach = (
                f"{np.median(reached):.0f} ({len(reached)}/{len(hits)} runs)" if reached else f"never (0/{len(hits)})"
            )
        print(f"{name:<{width}}{cells}{reach:>24}{seconds[name]:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objective", choices=(*PROXIES, "train"), default="proxy")
    parser.add_argument("--trials", type=int, default=150, help="proxy: trials per run (default: 150)")
    parser.add_argument("--epochs", type=int, default=360, help="train: training epochs per run (default: 360)")
    parser.add_argument("--max-trials", type=int, default=200, help="train: trials per run at most (duplicates)")
    parser.add_argument("--final-seeds", type=int, default=3, help="train: seeds of each final re-training")
    parser.add_argument(
        "--repeats", type=int, default=None, help="train: trainings per candidate (default: the config's objective)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes, one torch thread each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument(
        "--population", type=int, default=None, help="GA population / startup trials (default: proxy 10, train 5)"
    )
    parser.add_argument(
        "--g2l-options", type=json.loads, default={}, help="JSON object of G2LGeneticSampler options for g2l"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[],
        metavar="LABEL=JSON",
        help="extra rows: g2l:LABEL (G2L with these options on top of --g2l-options) or SAMPLER:LABEL; an "
        '"objective" entry changes the row\'s objective settings (train)',
    )
    parser.add_argument(
        "--storage", default=None, help="journal file keeping every study (default: temporary; 'memory': none)"
    )
    parser.add_argument(
        "--pipeline",
        type=json.loads,
        default=None,
        metavar="JSON",
        help=f"train: add the row {PIPELINE}, G2L (with --g2l-options) with a pruner, a reported value and EGI "
        "refinement of the best at the end, e.g. "
        '\'{"pruner": {"name": "egi"}, "report": "val_loss", "refine_top": 1}\'',
    )
    parser.add_argument("--figure", default=None, help="write the best-so-far figure (HTML) here")
    parser.add_argument("--quick", action="store_true", help="proxy, 12 trials, 2 seeds (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.objective, args.trials, args.seeds, args.population = "proxy", 12, [0, 1], 4
    args.step = 1
    if args.population is None:
        args.population = 10 if args.objective in PROXIES else 5
    if not isinstance(args.g2l_options, dict):
        parser.error("--g2l-options: expected a JSON object")
    variants = {}
    for item in args.variants:
        label, sep, text = item.partition("=")
        options = json.loads(text) if sep else None
        if not isinstance(options, dict):
            parser.error(f"--variants: expected LABEL=JSON object, got {item!r}")
        label = label if ":" in label else f"g2l:{label}"
        if label.split(":")[0] not in SAMPLERS or not isinstance(options.get("objective", {}), dict):
            parser.error(f"--variants: expected [SAMPLER:]LABEL=JSON object with a known sampler, got {item!r}")
        variants[label] = options
    args.variants = variants
    args.samplers = list(args.samplers) + list(variants)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats: must be an integer >= 1, got {args.repeats}")
    if args.pipeline is not None:
        keys = ("pruner", "refine_top", *PIPELINE_OBJECTIVE)
        if not isinstance(args.pipeline, dict) or set(args.pipeline) - set(keys):
            parser.error(f"--pipeline: expected a JSON object with keys {', '.join(keys)}")
        args.samplers.append(PIPELINE)
    args.pipeline = args.pipeline or {}
    run(args)


if __name__ == "__main__":
    main()
