"""The kind of G2L's Tables 4-7 on synthetic data: EGI local search from different starts, S, PMF normalisations,
and EGI vs DARTS. Mean and spread over seeds; every structure is finally trained on the train part and scored on the
test split (so the global search's choice on the validation part does not flatter it).

    python benchmarks/egi_ablation.py [--preset tiny] [--seeds 0 1 2] [--search-epochs 12] [--train-epochs 20]
    python benchmarks/egi_ablation.py --preset rf-planted [--seeds 0 1 2]   # studies/synthetic-rf-planted.yaml

With ``--preset rf-planted`` the model, space (D_g = {2^0..2^8}) and training settings are those of
``studies/synthetic-rf-planted.yaml`` (2 x 6 x 32, 12 epochs, batch 4, lr 5e-3), whose best receptive field is known
(the planted optimum 1 2 4 8 16 64 per stage is scored too), and the search and final epochs default to 12.

Per seed: a small G2L global search (``--global-trials``) gives the "globally searched" start; "random" draws
dilations from D_g; "2^i" is MS-TCN's. Table 5 refines each start with default EGI (S=3, abs, Eq. 6 rounded to
the nearest); Table 6 varies S from the global start; Table 7 varies the PMF; Table 4 compares EGI and DARTS.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import optuna

from g2l_automl.config import load_config
from g2l_automl.data import PRESETS, ActionSegmentationDataset, generate, planted_dilations
from g2l_automl.egi import EGILocalSearch
from g2l_automl.metrics import METRIC_NAMES
from g2l_automl.models import build_model
from g2l_automl.objective import SegmentationObjective
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, evaluate_videos

BASE = StructureSpec.mstcn(num_stages=2, num_layers=6, channels=16)
#: training settings per preset: (batch size, learning rate); rf-planted's are its study config's
SETTINGS = {"rf-planted": (4, 5e-3)}
PLANTED_CONFIG = Path(__file__).resolve().parents[1] / "studies" / "synthetic-rf-planted.yaml"


def test_metrics(structure: StructureSpec, data: ActionSegmentationDataset, train, test, args) -> dict:  # noqa: ANN001
    model = build_model(structure, train[0].features.shape[0], data.num_classes, seed=0)
    Trainer(epochs=args.train_epochs, batch_size=args.batch_size, lr=args.lr, seed=0, progress=False).fit(model, train)
    return evaluate_videos(model, test, bg_labels=data.bg_labels)


def run_seed(
    data: ActionSegmentationDataset, space: SearchSpace, seed: int, args: argparse.Namespace, rows: dict
) -> None:
    """One seed: global search, then every table's refinements, each scored on the test split."""
    trainer = Trainer(epochs=args.train_epochs, batch_size=args.batch_size, lr=args.lr, seed=0, progress=False)
    objective = SegmentationObjective(data, space, trainer=trainer, val_fraction=0.25, split_seed=seed)
    train_part, _ = objective.videos()
    train_all, test = data.load(data.split("train")), data.load(data.split("test"))
    # no pruning (create_study's default is Optuna's MedianPruner, which our objectives' reports reach)
    study = optuna.create_study(
        direction="maximize",
        sampler=G2LGeneticSampler(space, population_size=4, seed=seed),
        pruner=optuna.pruners.NopPruner(),
    )
    study.optimize(objective, n_trials=args.global_trials)
    starts = {
        "random": space.to_structure(space.sample(np.random.RandomState(seed))),
        "2^i": space.base,
        "global": StructureSpec.from_dict(study.best_trial.user_attrs["structure"]),
    }
    if args.preset == "rf-planted":
        base, choices = space.base, space.gene("stage0.layer0.dilation").choices
        planted = base.with_dilations(
            [planted_dilations(PRESETS["rf-planted"], len(stage.layers), choices) for stage in base.stages]
        )
        rows["T5 planted optimum"].append(test_metrics(planted, data, train_all, test, args))

    def refine(start: StructureSpec, **options) -> StructureSpec:
        trainer = Trainer(batch_size=args.batch_size, lr=args.lr, progress=False)
        search = EGILocalSearch(interval=3, epochs=args.search_epochs, trainer=trainer, seed=seed, **options)
        return search.run(start, train_part, num_classes=data.num_classes).structure

    def score(label: str, structure: StructureSpec) -> None:
        rows[label].append(test_metrics(structure, data, train_all, test, args))

    for name, start in starts.items():
        score(f"T5 {name}", start)
        score(f"T5 {name} + EGI", refine(start))
    for s in (2, 4):
        score(f"T6 S={s}", refine(starts["global"], num_candidates=s))
    for norm in ("softmax", "sigmoid"):
        score(f"T7 {norm}", refine(starts["global"], normalize=norm))
    score("T4 DARTS", refine(starts["global"], method="darts"))
    # the default EGI run from the global start is the reference row of Tables 4, 6 and 7
    for label in ("T6 S=3", "T7 abs", "T4 EGI"):
        rows[label] = rows["T5 global + EGI"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--global-trials", type=int, default=16)
    parser.add_argument("--search-epochs", type=int, default=12)
    parser.add_argument("--train-epochs", type=int, default=None, help="default: 12 on rf-planted, else 20")
    parser.add_argument("--quick", action="store_true", help="one seed, tiny budgets (smoke test)")
    args = parser.parse_args()
    if args.train_epochs is None:
        args.train_epochs = 12 if args.preset == "rf-planted" else 20
    args.batch_size, args.lr = SETTINGS.get(args.preset, (2, 1e-3))
    if args.quick:
        args.seeds, args.global_trials, args.search_epochs, args.train_epochs = [0], 2, 1, 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: dict[str, list[dict]] = defaultdict(list)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = ActionSegmentationDataset(generate(f"{tmp}/d", args.preset, seed=0))
        if args.preset == "rf-planted":
            space = load_config(PLANTED_CONFIG, data_root=str(data.root)).space
        else:
            space = SearchSpace(BASE, [Dilations(k=2, T=6)])
        for seed in args.seeds:
            run_seed(data, space, seed, args, rows)
            print(f"seed {seed} done ({time.perf_counter() - started:.0f}s)", flush=True)
    print(
        f"\npreset {args.preset}, MS-TCN {_shape(space.base)}, seeds {args.seeds}, global search "
        f"{args.global_trials} trials, "
        f"EGI {args.search_epochs} epochs (update every 3), final training {args.train_epochs} epochs "
        f"(batch {args.batch_size}, lr {args.lr}); test split, mean +- std over seeds"
    )
    print(f"{'':<22}" + "".join(f"{m:>14}" for m in METRIC_NAMES))
    order = sorted(rows, key=lambda k: (k[:2], k))
    for label in order:
        cells = []
        for m in METRIC_NAMES:
            values = [r[m] for r in rows[label]]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):7.1f} +-{spread:4.1f}")
        print(f"{label:<22}" + "".join(f"{c:>14}" for c in cells))


def _shape(spec: StructureSpec) -> str:
    return f"{len(spec.stages)}x{len(spec.stages[0].layers)}x{spec.stages[0].layers[0].channels}"


if __name__ == "__main__":
    main()
