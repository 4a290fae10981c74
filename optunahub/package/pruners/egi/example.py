"""Stop unpromising trials at ASHA rungs (epochs 1, 3, 9, ...) with EGIPruner on a toy learning curve."""

import math
from pathlib import Path

import optuna

import optunahub

# Once the package is in the registry: optunahub.load_module("pruners/egi")
module = optunahub.load_local_module("pruners/egi", registry_root=str(Path(__file__).resolve().parents[2]))


def objective(trial: optuna.Trial) -> float:
    rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
    score = 0.0
    for epoch in range(1, 10):
        score = 100 * (1 - math.exp(-rate * epoch))  # a stand-in for validation F1 after each epoch
        trial.report(score, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return score


pruner = module.EGIPruner(min_resource=1, reduction_factor=3)
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)
study.optimize(objective, n_trials=30)
pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
print(f"best value {study.best_value:.1f}, {pruned} of {len(study.trials)} trials pruned")
