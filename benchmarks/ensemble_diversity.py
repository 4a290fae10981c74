"""How far apart are the top architectures of a search, and what does a least Hamming distance between ensemble
members cost? The measurement behind ``select_members``' default ``min_distance`` (EvaNet Sec. 4.2's ensemble of
*diverse* top architectures).

For every study: the distinct architectures best first; for each of the top 10 its Hamming distance (genes) to the
nearest better one; then for ``min_distance`` 1..6 the greedy top-3 members: their ranks among the distinct
architectures, their search values and their least pairwise distance. Studies are read from storages, and two
longer searches are run on the spot with the proxy objective (no training, seconds): EvaNet's evolution over the
EvaNet space and G2L's genetic search over dilations, ``--proxy-trials`` trials each.

``--train-tiny`` also scores the ensembles, for studies of ``benchmarks/evanet.py --storage`` (named ``ARM-seedS``):
each member is retrained exactly as that benchmark trained it (tiny preset, 75 % of split 1's train list,
``--epochs``, model and trainer seed S, so it is the searched model), and the top-3 late fusion for every
``min_distance`` is scored on the test list (F1@10, Edit, Acc).

    python benchmarks/ensemble_diversity.py --study sqlite:///g2l.db g2l-gtea-like \
        --study sqlite:///evanet.db evanet-seed0
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.metrics import evaluate
from g2l_automl.models import build_model
from g2l_automl.objective import ProxyObjective
from g2l_automl.samplers import EvolutionSampler, G2LGeneticSampler, sort_best_first
from g2l_automl.search import trial_structure
from g2l_automl.search._diversity import hamming_distance
from g2l_automl.search._ensemble import architecture_key, late_fusion, select_members
from g2l_automl.spaces import Dilations, Kernels, Modules, Ops, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, predict_probabilities


def _proxy_studies(trials: int) -> dict[str, optuna.Study]:
    base = StructureSpec.mstcn(num_stages=2, num_layers=4, channels=16)
    convs = ("conv", "conv2plus1d", "sep_conv", "tgm")
    evanet = SearchSpace(
        base,
        [
            Dilations(k=2, T=5),
            Ops(convs + ("max_pool", "avg_pool", "parallel")),
            Kernels((1, 3, 5, 7, 9, 11)),
            Modules(min_branches=2, max_branches=3, ops=convs, min_pools=1, max_pools=2),
        ],
    )
    dilations = SearchSpace(base, [Dilations(k=2, T=5)])
    out = {}
    for name, space, sampler in (
        ("proxy evolution, EvaNet space", evanet, EvolutionSampler(evanet, population_size=20, sample_size=5, seed=0)),
        ("proxy G2L genetic, dilations", dilations, G2LGeneticSampler(dilations, population_size=20, seed=0)),
    ):
        study = optuna.create_study(direction="maximize", sampler=sampler, study_name=name)
        proxy = ProxyObjective(space, seed=0)

        def objective(trial: optuna.Trial, space: SearchSpace = space, proxy: ProxyObjective = proxy) -> float:
            spec = space.suggest(trial)
            trial.set_user_attr("structure", spec.to_dict())
            return proxy.score(spec)

        study.optimize(objective, n_trials=trials)
        out[name] = study
    return out


def report(name: str, study: optuna.Study) -> None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if trial_structure(t)]
    ranked, seen = [], set()
    for trial in sort_best_first(study, complete):
        spec = trial_structure(trial)
        if architecture_key(spec) not in seen:
            seen.add(architecture_key(spec))
            ranked.append((trial, spec))
    rank = {t.number: k for k, (t, _) in enumerate(ranked)}
    nearest = [min(hamming_distance(s, o) for _, o in ranked[:k]) for k, (_, s) in enumerate(ranked[:10]) if k]
    print(f"\n### {name}: {len(complete)} COMPLETE trials, {len(ranked)} distinct architectures")
    print(f"top 10: distance to the nearest better one: {nearest} (median {np.median(nearest):.0f})")
    print("| min_distance | ranks of the 3 members | search values | least pairwise distance |")
    print("|---|---|---|---|")
    for d in range(1, 7):
        members, _ = select_members(study, top=3, min_distance=d)
        specs = [s for _, s in members]
        pairs = [hamming_distance(a, b) for k, a in enumerate(specs) for b in specs[k + 1 :]]
        values = ", ".join(f"{t.values[0]:.1f}" for t, _ in members)
        print(
            f"| {d} | {' '.join(str(rank[t.number] + 1) for t, _ in members)} | {values} | "
            f"{min(pairs) if pairs else '-'} |"
        )


def train_ensembles(studies: dict[str, optuna.Study], epochs: int) -> None:
    """Late-fusion test scores of the top-3 members for every ``min_distance`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        dataset = ActionSegmentationDataset(generate(os.path.join(tmp, "data"), "tiny", seed=0))
        train_names, _ = dataset.train_val_split(1, 0.25, 0)
        train, test = dataset.load(train_names), dataset.load(dataset.split("test", 1))
        truths, bg = [v.full_labels for v in test], tuple(dataset.bg_labels)
        print("\n| study | min_distance | members (trials) | F1@10 | Edit | Acc | best member's F1@10 |")
        print("|---|---|---|---|---|---|---|")
        for name, study in studies.items():
            seed = int(name.rsplit("seed", 1)[1])
            trainer = Trainer(epochs=epochs, batch_size=1, lr=1e-3, seed=seed, device="cpu", progress=False)
            cache: dict[int, list[np.ndarray]] = {}
            for d in (1, 2, 3):
                members, _ = select_members(study, top=3, min_distance=d)
                for trial, spec in members:
                    if trial.number not in cache:
                        model = build_model(spec, train[0].features.shape[0], dataset.num_classes, seed=seed)
                        trainer.fit(model, train, bg_labels=list(bg))
                        cache[trial.number] = predict_probabilities(model, test)
                probs = [cache[t.number] for t, _ in members]
                fused = evaluate(late_fusion(probs), truths, bg_classes=bg)
                best = max(evaluate([p.argmax(0) for p in m], truths, bg_classes=bg)["F1@10"] for m in probs)
                print(
                    f"| {name} | {d} | {' '.join(str(t.number) for t, _ in members)} | {fused['F1@10']:.1f} | "
                    f"{fused['Edit']:.1f} | {fused['Acc']:.1f} | {best:.1f} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", nargs=2, action="append", default=[], metavar=("STORAGE", "NAME"))
    parser.add_argument("--proxy-trials", type=int, default=300, help="trials of each proxy search (0: none)")
    parser.add_argument("--train-tiny", action="store_true", help="score the ensembles (benchmarks/evanet.py studies)")
    parser.add_argument("--epochs", type=int, default=12, help="with --train-tiny: epochs per member")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(1)
    studies = {name: optuna.load_study(study_name=name, storage=storage) for storage, name in args.study}
    for (storage, name), study in zip(args.study, studies.values(), strict=True):
        report(f"{name} ({storage})", study)
    if args.train_tiny:
        train_ensembles(studies, args.epochs)
    if args.proxy_trials:
        for name, study in _proxy_studies(args.proxy_trials).items():
            report(name, study)


if __name__ == "__main__":
    main()
