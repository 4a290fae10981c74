"""EvaNet's kernel space vs dilations only vs the hand-designed MS-TCN, with equal trial budgets, side by side.

Arms, each run over the same seeds (a seed sets the sampler, the initial weights and the training order):
- ``evanet``: EvolutionSampler (EvaNet Alg. 1) over the kernel space of EvaNet Sec. 4.1-4.2 on MS-TCN's layers:
  every layer is ``conv``, ``conv2plus1d`` (EvaNet's (2+1)D), ``sep_conv``, ``tgm``, ``max_pool``, ``avg_pool`` or
  a ``parallel`` module under EvaNet's rules (Sec. 5.2): 2-3 convolution branches (``conv``, ``conv2plus1d``,
  ``sep_conv``, ``tgm``) and 1-2 pooling branches, averaged; each layer or branch with a temporal length in
  {1, 3, 5, 7, 9, 11}; dilations stay MS-TCN's ``2**i``.
- ``ops``: one model per op, MS-TCN with every layer that op (kernel 3, ``2**i``), trained once per seed, and the
  EvaNet module ``[conv2plus1d3|conv3|max_pool3]`` everywhere: which op wins with nothing else searched.
- ``dilations``: EvolutionSampler over G2L's dilation space {2^0..2^5} with MS-TCN's conv layers of kernel 3.
- ``mstcn``: the hand-designed MS-TCN (``2**i``, kernel 3), trained once (budget 1).
- ``mstcn-restarts``: the same MS-TCN trained from ``--trials`` initialisations, the best on validation kept: the
  equal-budget control, since a search's best of N noisy trainings gains from the noise alone.

Every candidate trains like G2L's global search in kind (synthetic preset, Adam, batch 1) and is scored by F1@10 on
a validation part of the train list (its fitness); the same model's F1@10 on the test list is recorded but never
seen by the search, and reported for each search's best trial. Output: a markdown table (best validation F1@10
mean +- std over seeds, test F1@10 of the best, parameters of the best) with the machine it ran on.

    python benchmarks/evanet.py             # tiny preset, 3 seeds, 10 trials per search (13 min on a busy 2-core VM)
    python benchmarks/evanet.py --arms evanet ops   # only those arms
    python benchmarks/evanet.py --quick     # smoke test: 2 seeds, 3 trials, 2 epochs, 12 videos
    python benchmarks/evanet.py --storage sqlite:///evanet.db   # keep the search studies (evanet-seed0, ...)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import optuna
import torch

from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.models import build_model
from g2l_automl.samplers import EvolutionSampler
from g2l_automl.spaces import Dilations, Kernels, Modules, Ops, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, evaluate_videos

KERNELS = (1, 3, 5, 7, 9, 11)
CONVS = ("conv", "conv2plus1d", "sep_conv", "tgm")
ARMS = ("evanet", "dilations", "mstcn", "mstcn-restarts", "ops")
#: The ``ops`` arm: name -> layer changes applied to every layer of the base (kernel 3, dilations 2**i kept).
OP_MODELS: dict[str, dict] = {
    **{op: {"op": op} for op in CONVS + ("max_pool", "avg_pool")},
    "evanet module": {"op": "parallel", "branches": (("conv2plus1d", 3), ("conv", 3), ("max_pool", 3))},
}


def spaces(base: StructureSpec) -> dict[str, SearchSpace]:
    """The two searched spaces over the same base structure."""
    return {
        "evanet": SearchSpace(
            base,
            [
                Ops(CONVS + ("max_pool", "avg_pool", "parallel")),
                Kernels(KERNELS),
                Modules(min_branches=2, max_branches=3, ops=CONVS, kernel_sizes=KERNELS, min_pools=1, max_pools=2),
            ],
        ),
        "dilations": SearchSpace(base, [Dilations(k=2, T=5)]),
    }


def op_model(base: StructureSpec, changes: dict) -> StructureSpec:
    """``base`` with every layer changed by ``changes``."""
    spec = base
    for s, i, _ in base.layers():
        spec = spec.with_layer(s, i, **changes)
    return spec


def _describe(spec: StructureSpec) -> str:
    """Compact layer list, e.g. ``conv3d1 tgm9d2 [conv3|tgm11]d4``, stages separated by ``/``."""

    def layer(lay):  # noqa: ANN001, ANN202
        if lay.op == "parallel":
            return "[" + "|".join(f"{b.op}{b.kernel_size}" for b in lay.branches) + f"]d{lay.dilation}"
        return f"{lay.op}{lay.kernel_size}d{lay.dilation}"

    return " / ".join(" ".join(layer(lay) for lay in st.layers) for st in spec.stages)


def _objective(  # noqa: ANN202
    space: SearchSpace,
    dataset: ActionSegmentationDataset,
    trainer: Trainer,
    seed: int,
    videos,  # noqa: ANN001
    restarts: bool = False,
):
    """Train the trial's structure, return its validation F1@10; the test F1@10 of the same model is only stored
    (a user attr the sampler never reads), so the best trial's test score needs no retraining. ``restarts``:
    every trial starts from other initial weights."""
    train, val, test = videos

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        init = seed + 1000 * trial.number if restarts else seed
        model = build_model(spec, train[0].features.shape[0], dataset.num_classes, seed=init)
        history = trainer.fit(model, train, val, bg_labels=dataset.bg_labels)
        trial.set_user_attr("structure", spec.to_dict())
        trial.set_user_attr("params", sum(p.numel() for p in model.parameters()))
        trial.set_user_attr("test", evaluate_videos(model, test, dataset.bg_labels)["F1@10"])
        return history[-1]["val"]["F1@10"]

    return objective


def run(args: argparse.Namespace) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(args.threads)
    start_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        changes = {"num_videos": args.videos} if args.videos else {}
        dataset = ActionSegmentationDataset(generate(os.path.join(tmp, "data"), args.preset, seed=0, **changes))
        base = StructureSpec.mstcn(num_stages=args.stages, num_layers=args.layers, channels=args.channels)
        searched = spaces(base)
        train_names, val_names = dataset.train_val_split(1, args.val_fraction, 0)
        videos = (dataset.load(train_names), dataset.load(val_names), dataset.load(dataset.split("test", 1)))
        results: dict[str, list[dict]] = {name: [] for name in ARMS if name in args.arms and name != "ops"}
        op_results: dict[str, list[dict]] = {name: [] for name in OP_MODELS} if "ops" in args.arms else {}
        for seed in args.seeds:
            trainer = Trainer(
                epochs=args.epochs,
                batch_size=1,
                lr=1e-3,
                seed=seed,
                device="cpu",
                progress=False,
                eval_every=args.epochs,
            )
            arms = [(name, space, args.trials) for name, space in searched.items()]
            arms.append(("mstcn", searched["dilations"], 1))  # the baselines: MS-TCN enqueued
            arms.append(("mstcn-restarts", searched["dilations"], args.trials))
            for name, changes in op_results and OP_MODELS.items():
                began = time.perf_counter()
                dim = videos[0][0].features.shape[0]
                model = build_model(op_model(base, changes), dim, dataset.num_classes, seed=seed)
                history = trainer.fit(model, videos[0], videos[1], bg_labels=dataset.bg_labels)
                op_results[name].append(
                    {
                        "val": history[-1]["val"]["F1@10"],
                        "test": evaluate_videos(model, videos[2], dataset.bg_labels)["F1@10"],
                        "params": sum(p.numel() for p in model.parameters()),
                        "seconds": time.perf_counter() - began,
                    }
                )
            for name, space, budget in [arm for arm in arms if arm[0] in results]:
                sampler = EvolutionSampler(
                    space,
                    population_size=args.population,
                    sample_size=max(2, args.population // 2),
                    max_mutations=2,
                    anneal_rounds=max(1, args.trials // 2),
                    seed=seed,
                )
                # no pruner: this objective reports nothing, but create_study's default would be MedianPruner
                study = optuna.create_study(
                    storage=args.storage,
                    study_name=f"{name}-seed{seed}" if args.storage else None,
                    direction="maximize",
                    sampler=sampler,
                    pruner=optuna.pruners.NopPruner(),
                )
                for _ in range(budget if name.startswith("mstcn") else int(args.seed_baseline)):
                    study.enqueue_trial(space.to_params(base))
                began = time.perf_counter()
                objective = _objective(space, dataset, trainer, seed, videos, restarts=name == "mstcn-restarts")
                study.optimize(objective, n_trials=budget)
                best = study.best_trial
                results[name].append(
                    {
                        "val": best.value,
                        "test": best.user_attrs["test"],
                        "params": best.user_attrs["params"],
                        "structure": _describe(StructureSpec.from_dict(best.user_attrs["structure"])),
                        "seconds": time.perf_counter() - began,
                        "budget": len(study.trials),
                    }
                )
        _print(args, results, op_results, time.perf_counter() - start_all)


def _print_ops(op_results: dict[str, list[dict]]) -> None:
    print("\n| every layer (kernel 3, dilations 2^i) | val F1@10 | test F1@10 | params | seconds |")
    print("|---|---|---|---|---|")
    for name, runs in op_results.items():
        val, test = np.array([r["val"] for r in runs]), np.array([r["test"] for r in runs])
        print(
            f"| `{name}` | {val.mean():.1f} +- {val.std():.1f} | {test.mean():.1f} +- {test.std():.1f} | "
            f"{runs[0]['params'] / 1e3:.1f}k | {sum(r['seconds'] for r in runs):.0f} |"
        )


def _print(
    args: argparse.Namespace, results: dict[str, list[dict]], op_results: dict[str, list[dict]], seconds: float
) -> None:
    print(
        f"preset {args.preset}, MS-TCN base {args.stages}x{args.layers}x{args.channels}, {args.epochs} epochs a "
        f"candidate, seeds {args.seeds}, population {args.population}; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), torch {torch.__version__}, "
        f"optuna {optuna.__version__}; {seconds:.0f} s in all\n"
    )
    if op_results:
        _print_ops(op_results)
    if not results:
        return
    labels = {
        "evanet": "evolution, EvaNet kernel space (ops + kernels + modules)",
        "dilations": "evolution, dilations only",
        "mstcn": "hand-designed MS-TCN",
        "mstcn-restarts": "hand-designed MS-TCN, best of N initialisations",
    }
    print("\n| search | budget (trials) | best val F1@10 | test F1@10 of the best | params of the best | seconds |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        val = np.array([r["val"] for r in runs])
        test = np.array([r["test"] for r in runs])
        params = np.array([r["params"] for r in runs])
        print(
            f"| {labels[name]} | {runs[0]['budget']} | {val.mean():.1f} +- {val.std():.1f} | "
            f"{test.mean():.1f} +- {test.std():.1f} | {params.mean() / 1e3:.1f}k | "
            f"{sum(r['seconds'] for r in runs):.0f} |"
        )
    print("\nbest structures (seed: val / test F1@10: layers)")
    for name in [n for n in ("evanet", "dilations") if n in results]:
        for seed, r in zip(args.seeds, results[name], strict=True):
            print(f"- {name} seed {seed}: {r['val']:.1f} / {r['test']:.1f}: {r['structure']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny", help="synthetic preset (tiny or gtea-like)")
    parser.add_argument("--videos", type=int, default=None, help="cut the preset to this many videos")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=10, help="trials per search (equal for both searches)")
    parser.add_argument("--population", type=int, default=5, help="EvolutionSampler population (random start)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs per candidate")
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--val-fraction", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core VM)")
    parser.add_argument("--seed-baseline", action="store_true", help="enqueue MS-TCN into both searches")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run (default: all)")
    parser.add_argument("--storage", default=None, help="keep the search studies here, named ARM-seedS")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 seeds, 3 trials, 2 epochs, 12 videos")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.population, args.epochs, args.videos = [0, 1], 3, 2, 2, 12
    run(args)


if __name__ == "__main__":
    main()
