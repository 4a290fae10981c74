"""The OptunaHub packages under optunahub/package load with optunahub.load_local_module and run a short study."""

import math
import re
import runpy
from pathlib import Path

import optuna
import pytest

optunahub = pytest.importorskip("optunahub")

REGISTRY = Path(__file__).resolve().parents[1] / "optunahub" / "package"
PACKAGES = ["samplers/g2l_genetic", "samplers/evanet_evolution", "pruners/egi"]


def _rf_study(sampler, space) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: -abs(space.suggest(t).receptive_field(0) - 40), n_trials=20)
    return study


@pytest.mark.parametrize("name", ["g2l_genetic", "evanet_evolution"])
def test_sampler_package_loads_and_runs(name):
    module = optunahub.load_local_module(f"samplers/{name}", registry_root=str(REGISTRY))
    space = module.SearchSpace(module.StructureSpec.mstcn(num_stages=1, num_layers=4), [module.Dilations(k=2, T=5)])
    if name == "g2l_genetic":
        sampler = module.G2LGeneticSampler(space, population_size=5, seed=0)
        from g2l_automl.samplers import G2LGeneticSampler as expected
    else:
        sampler = module.EvolutionSampler(space, population_size=6, sample_size=3, max_mutations=2, seed=0)
        from g2l_automl.samplers import EvolutionSampler as expected
    assert type(sampler) is expected  # a thin re-export, not a copy
    study = _rf_study(sampler, space)
    assert len(study.trials) == 20 and study.best_value > -40


def test_pruner_package_loads_and_prunes():
    module = optunahub.load_local_module("pruners/egi", registry_root=str(REGISTRY))
    from g2l_automl.pruners import EGIPruner

    assert module.EGIPruner is EGIPruner

    def objective(trial):
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for epoch in range(1, 10):
            trial.report(100 * (1 - math.exp(-rate * epoch)), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 100 * (1 - math.exp(-rate * 9))

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=module.EGIPruner(min_resource=1, reduction_factor=3),
    )
    study.optimize(objective, n_trials=20)
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_layout_and_example(package, capsys):
    folder = REGISTRY / package
    assert {"__init__.py", "README.md", "LICENSE", "example.py"} <= {p.name for p in folder.iterdir()}
    readme = (folder / "README.md").read_text()
    front = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert front, "README.md starts with the registry's front matter"
    keys = dict(line.split(":", 1) for line in front.group(1).splitlines())
    assert set(keys) == {"author", "title", "description", "tags", "optuna_versions", "license"}
    assert package.split("/")[0][:-1] in keys["tags"]  # "sampler" / "pruner", as the registry requires
    assert keys["license"].strip() == "MIT License" and "MIT License" in (folder / "LICENSE").read_text()
    assert "<" not in readme.replace("<!--", "")  # the registry strips HTML tags
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runpy.run_path(str(folder / "example.py"), run_name="__main__")
    assert "best value" in capsys.readouterr().out
