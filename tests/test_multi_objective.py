"""Multi-objective search: score and FLOPs at once, Pareto-ranked by our samplers, Pareto front in the report."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from g2l_automl.cli import main
from g2l_automl.data import ActionSegmentationDataset
from g2l_automl.metrics import count_flops
from g2l_automl.models import build_model
from g2l_automl.objective import FLOPS_FRAMES, SegmentationObjective
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.spaces import Dilations, SearchSpace, Widths
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def test_flops_follow_the_width_and_match_the_counter(tiny_data):
    data = ActionSegmentationDataset(tiny_data)
    space = SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3), Widths((8, 32))])
    objective = SegmentationObjective(data, space, trainer=Trainer(epochs=1, progress=False, device="cpu"))
    narrow, wide = (space.to_structure({**space.to_params(space.base), "stage0.channels": w}) for w in (8, 32))
    dim = objective.videos()[0][0].features.shape[0]
    model = build_model(wide, dim, data.num_classes)
    expected = count_flops(model, torch.zeros(1, dim, FLOPS_FRAMES), torch.ones(1, 1, FLOPS_FRAMES))
    assert objective.flops(wide) == expected > objective.flops(narrow) > 0
    # a conv of C_in -> C_out, kernel k over T frames costs 2 * C_in * C_out * k * T
    assert count_flops(torch.nn.Conv1d(3, 5, 3, padding=1), torch.zeros(1, 3, 7)) == 2 * 3 * 5 * 3 * 7


def test_g2l_sampler_searches_score_and_flops_and_ranks_by_pareto_front(tiny_data):
    data = ActionSegmentationDataset(tiny_data)
    space = SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3), Widths((4, 8, 16))])
    objective = SegmentationObjective(
        data, space, trainer=Trainer(epochs=1, progress=False, device="cpu"), metric=["F1@10", "flops"]
    )
    sampler = G2LGeneticSampler(space, population_size=3, seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=7)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 7
    for t in complete:
        assert t.values[1] == float(t.user_attrs["flops"]) == float(objective.flops(space.to_structure(t.params)))
        assert not math.isnan(t.values[0])
    # best_trials is Optuna's own Pareto front: none of them is dominated by any completed trial
    for best in study.best_trials:
        for t in complete:
            assert not (t.values[0] >= best.values[0] and t.values[1] <= best.values[1] and t.values != best.values)
    # generation 1 was bred from parents chosen by non-domination rank (G2L Eq. 3 on fronts)
    assert {t.system_attrs.get(sampler._get_generation_key()) for t in complete[3:6]} == {1}


def test_pareto_config_runs_from_the_cli_and_reports_the_front(tmp_path, tiny_data, capsys):
    storage = f"sqlite:///{tmp_path / 'p.db'}"
    optuna.create_study(storage=storage, study_name="p", directions=["maximize", "minimize"])
    config = str(STUDIES / "synthetic-tiny-pareto.yaml")
    common = ["--storage", storage, "--study-name", "p", "--config", config]
    assert main(["search", *common, "--data", str(tiny_data), "--n-trials", "4", "--device", "cpu"]) == 0
    study = optuna.load_study(study_name="p", storage=storage)
    assert len(study.best_trials) >= 1
    assert main(["report", "--storage", storage, "--study-name", "p", "--out", str(tmp_path / "r.html")]) == 0
    assert "Pareto front" in (tmp_path / "r.html").read_text()
    # a single-direction study refuses the two-metric config, naming the metric to minimise
    optuna.create_study(storage=storage, study_name="one", direction="maximize")
    capsys.readouterr()
    argv = ["search", *common[:2], "--study-name", "one", "--config", config, "--data", str(tiny_data)]
    assert main([*argv, "--n-trials", "1"]) == 2
    assert "flops" in capsys.readouterr().err
