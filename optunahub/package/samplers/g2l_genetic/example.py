"""Search the dilations of a 1-stage, 4-layer MS-TCN for a receptive field of 40 frames with G2L's genetic search.

The objective is a stand-in that needs no training; for a real one use g2l_automl's ``SegmentationObjective``.
"""

from pathlib import Path

import optuna

import optunahub

# Once the package is in the registry: optunahub.load_module("samplers/g2l_genetic")
module = optunahub.load_local_module("samplers/g2l_genetic", registry_root=str(Path(__file__).resolve().parents[2]))

space = module.SearchSpace(module.StructureSpec.mstcn(num_stages=1, num_layers=4), [module.Dilations(k=2, T=5)])


def objective(trial: optuna.Trial) -> float:
    spec = space.suggest(trial)  # a StructureSpec with the trial's dilations
    return -abs(spec.receptive_field(0) - 40)


sampler = module.G2LGeneticSampler(space, population_size=6, seed=0)
study = optuna.create_study(direction="maximize", sampler=sampler)
study.enqueue_trial(space.to_params(space.base))  # MS-TCN's 2**i dilations in generation 0
study.optimize(objective, n_trials=30)
print(f"best value {study.best_value}, params {study.best_params}")
