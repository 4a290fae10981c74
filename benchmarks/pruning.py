"""EGIPruner: training epochs spent and best value found, with and without the pruner, on equal trial budgets.

G2L's genetic sampler searches the dilations of a 2-stage MS-TCN on the synthetic tiny preset; each trial trains
``--epochs`` epochs, reports validation ``--report`` (default Acc: F1@10 is still 0 for every candidate after a few
epochs, and ties prune nothing) after each, and is worth its final validation F1@10. With the pruner, a trial that
cannot make the top M (M = population size) of the trials that reached the checkpoint epoch stops there. Both arms
run the same number of trials and the same seeds, side by side in one process.

    python benchmarks/pruning.py [--seeds 0 1 2] [--trials 48] [--epochs 12] [--checkpoint 5] [--population 4]

Target (issue 4): >= 2x fewer epochs for a best value within 1 F1 point.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import optuna

from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.objective import SegmentationObjective
from g2l_automl.pruners import EGIPruner
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer


def run_arm(data: ActionSegmentationDataset, seed: int, args: argparse.Namespace, prune: bool) -> dict:
    space = SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=6, channels=16), [Dilations(k=2, T=6)])
    trainer = Trainer(epochs=args.epochs, batch_size=1, lr=1e-3, seed=0, progress=False)
    objective = SegmentationObjective(data, space, trainer=trainer, val_fraction=0.25, report=args.report)
    pruner = EGIPruner(args.population, checkpoints=[args.checkpoint]) if prune else optuna.pruners.NopPruner()
    sampler = G2LGeneticSampler(space, population_size=args.population, seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    start = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    return {
        "epochs": sum(len(t.intermediate_values) for t in study.trials),
        "best": study.best_value,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--checkpoint", type=int, default=5)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument(
        "--report", default="Acc", help="metric reported per epoch and pruned on (F1@10 is still 0 after 2-3 epochs)"
    )
    parser.add_argument("--quick", action="store_true", help="one seed, 6 trials of 2 epochs (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs, args.checkpoint, args.population = [0], 6, 2, 1, 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data = ActionSegmentationDataset(generate(f"{tmp}/tiny", "tiny", seed=0))
        print(
            f"tiny preset, G2L population {args.population}, {args.trials} trials x {args.epochs} epochs, "
            f"EGIPruner checkpoint epoch {args.checkpoint} on validation {args.report}; value: final validation F1@10"
        )
        print(
            f"{'seed':>4} {'epochs (no pruner)':>19} {'epochs (EGI)':>13} {'ratio':>6} "
            f"{'best F1@10 (no)':>16} {'best (EGI)':>11} {'pruned':>7}"
        )
        ratios, gaps = [], []
        for seed in args.seeds:
            base = run_arm(data, seed, args, prune=False)
            egi = run_arm(data, seed, args, prune=True)
            ratios.append(base["epochs"] / egi["epochs"])
            gaps.append(egi["best"] - base["best"])
            print(
                f"{seed:>4} {base['epochs']:>19} {egi['epochs']:>13} {ratios[-1]:>5.2f}x "
                f"{base['best']:>16.2f} {egi['best']:>11.2f} {egi['pruned']:>7}"
            )
        print(
            f"mean epoch ratio {statistics.mean(ratios):.2f}x (min {min(ratios):.2f}x); best-value difference "
            f"(EGI - none) mean {statistics.mean(gaps):+.2f}, worst {min(gaps):+.2f} F1"
        )


if __name__ == "__main__":
    main()
