"""Fitness that tells structures apart: the rf-planted preset, common random numbers, repeats, validation folds and
the objective's duplicate rule, on real training."""

from __future__ import annotations

import json
import statistics

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from g2l_automl.config import load_config
from g2l_automl.data import PRESETS, ActionSegmentationDataset, PlantedPreset, generate, planted_dilations
from g2l_automl.objective import SegmentationObjective
from g2l_automl.search import build_objective, describe
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.usefixtures("one_torch_thread")
CHOICES = [2**i for i in range(9)]


# -- the rf-planted preset ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("planted") / "rfp", "rf-planted", seed=0)


def test_planted_videos_are_cue_labelled_segments_of_fixed_length(planted):
    p = PRESETS["rf-planted"]
    ds = ActionSegmentationDataset(planted)
    assert ds.num_classes == p.num_classes == 7 and ds.folds == [1, 2, 3, 4]
    assert json.loads((planted / "synthetic.json").read_text())["preset"] == "rf-planted"
    for video in ds.load(ds.split("train", 1)[:4]):
        labels = video.labels
        assert len(labels) == p.segment_length * p.segments_per_video
        segments = labels.reshape(p.segments_per_video, p.segment_length)
        assert (segments == segments[:, :1]).all()  # one class per segment
        groups = (segments[:, 0] - 1) // 2
        assert (groups[1:] != groups[:-1]).all()  # neighbours differ in group: boundaries are visible
        # a and b of a group look the same except at the cue, where they differ by 2 x cue in opposite directions
        feats = video.features.reshape(p.feature_dim, p.segments_per_video, p.segment_length)
        centre = slice(p.segment_length // 2 - p.cue_length // 2, p.segment_length // 2 + p.cue_length // 2)
        cue_energy = np.abs(feats[:, :, centre]).mean()
        rest_energy = np.abs(feats[:, :, : p.segment_length // 4]).mean()
        assert cue_energy > 1.3 * rest_energy


def test_planted_optimum_is_the_densest_stack_reaching_the_planted_distance():
    p = PlantedPreset()
    assert p.planted_reach == 192 // 2 - 16 // 2 == 88
    assert planted_dilations(p, 6, CHOICES) == [1, 2, 4, 8, 16, 64]  # reach 95, one hole (32)
    assert sum(2**i for i in range(6)) < p.planted_reach  # MS-TCN's 2^i reaches 63: too short
    with pytest.raises(ValueError, match="reaches 88"):
        planted_dilations(p, 2, [1, 2])


def _with(base: StructureSpec, dilations) -> StructureSpec:
    return base.with_dilations([dilations] * len(base.stages))


def test_planted_structure_beats_2i_and_all_1_on_validation(planted):
    # the shipped study config: the budget a search candidate gets (12 epochs), one seed
    config = load_config("studies/synthetic-rf-planted.yaml", data_root=str(planted))
    objective = build_objective(config, "cpu")
    base = config.structure
    fitness = {
        name: objective.score(spec)[0]["F1@10"]
        for name, spec in {
            "planted": _with(base, planted_dilations(PRESETS["rf-planted"], 6, CHOICES)),
            "2^i": base,
            "all 1": _with(base, [1] * 6),
        }.items()
    }
    assert fitness["planted"] > fitness["2^i"] + 10 and fitness["planted"] > fitness["all 1"] + 10, fitness


# -- common random numbers, repeats, folds --------------------------------------------------------------------------
@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3)])


def _objective(data, space, **kwargs) -> SegmentationObjective:
    trainer = Trainer(epochs=2, batch_size=2, progress=False, device="cpu")
    return SegmentationObjective(ActionSegmentationDataset(data), space, trainer=trainer, **kwargs)


def _run(objective, space, structures) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for spec in structures:
        study.enqueue_trial(space.to_params(spec))
    study.optimize(objective, n_trials=len(structures))
    return study


def test_common_random_numbers_make_a_candidate_score_the_same_at_any_trial_number(tiny_data, space):
    a, b = space.base, space.base.with_layer(0, 0, dilation=4)
    first = _run(_objective(tiny_data, space), space, [a]).trials[0]
    later = _run(_objective(tiny_data, space), space, [b, a]).trials[1]
    assert later.number == 1 and later.value == first.value
    assert later.user_attrs["metrics"] == first.user_attrs["metrics"]
    # without common seeds the trial number offsets the seeds: same structure, another initialisation
    first = _run(_objective(tiny_data, space, common_seeds=False), space, [a]).trials[0]
    later = _run(_objective(tiny_data, space, common_seeds=False), space, [b, a]).trials[1]
    assert later.user_attrs["metrics"] != first.user_attrs["metrics"]


def test_videonas_objective_uses_common_random_numbers(tmp_path):
    from g2l_automl.data import classification_splits
    from g2l_automl.nas import VideoNASSpace
    from g2l_automl.objective import VideoNASObjective
    from g2l_automl.training import ClassifierTrainer

    root = generate(tmp_path / "ml", "multilabel", seed=0, num_videos=24)
    train, val, _ = classification_splits(ActionSegmentationDataset(root), steps=16)
    space = VideoNASSpace(widths=[[4, 8], [8, 12]], max_layers=[1, 1], stem_channels=4)

    def objective():
        return VideoNASObjective(space, train, val, trainer=ClassifierTrainer(epochs=2, batch_size=8))

    arch = space.baseline()
    other = {**space.to_params(arch), "stage1.channels": 8}
    assert space.to_arch(other) != arch
    values = []
    for archs in ([space.to_params(arch)], [other, space.to_params(arch)]):
        study = optuna.create_study(direction="maximize")
        for params in archs:
            study.enqueue_trial(params)
        study.optimize(objective(), n_trials=len(archs))
        values.append(study.trials[-1].value)
    assert values[0] == values[1]
    # the same architecture again in one study is not trained again
    study.enqueue_trial(space.to_params(arch))
    study.optimize(objective(), n_trials=1)
    again = study.trials[-1]
    assert again.user_attrs["duplicate_of"] == 1 and again.value == values[1]
    assert again.user_attrs["train_seconds"] == 0.0


def test_lockstep_trainers_train_exactly_as_fit(tiny_data):
    ds = ActionSegmentationDataset(tiny_data)
    videos = ds.load(ds.split("train", 1))
    spec = StructureSpec.mstcn(1, 3, channels=8, dropout=0.5)  # dropout draws from the RNG every epoch

    def model(seed):
        from g2l_automl.models import build_model

        return build_model(spec, videos[0].features.shape[0], ds.num_classes, seed=seed)

    alone = [Trainer(epochs=3, seed=s, progress=False).fit(model(s), videos) for s in (0, 1)]
    runs = [Trainer(epochs=3, seed=s, progress=False).epochs_of(model(s), videos) for s in (0, 1)]
    together = [[], []]
    for _ in range(3):
        for run, logs in zip(runs, together, strict=True):
            logs.append(next(run))
    for a, b in zip(alone, together, strict=True):
        assert [e["loss"] for e in a] == [e["loss"] for e in b]


def test_repeats_train_n_seeds_report_the_mean_and_keep_the_spread(tiny_data, space):
    objective = _objective(tiny_data, space, repeats=3)
    study = _run(objective, space, [space.base])
    trial = study.trials[0]
    repeats = trial.user_attrs["repeats"]
    assert len(repeats) == 3 and len({r["F1@10"] for r in repeats} | {r["Acc"] for r in repeats}) > 1
    for name in ("F1@10", "Acc"):
        values = [r[name] for r in repeats]
        assert trial.user_attrs["metrics"][name] == pytest.approx(statistics.mean(values))
        assert trial.user_attrs["metrics_std"][name] == pytest.approx(statistics.stdev(values))
    assert trial.value == pytest.approx(statistics.mean(r["F1@10"] for r in repeats))
    assert trial.intermediate_values[2] == pytest.approx(trial.value)  # the pruner sees the mean per epoch
    # repeat r is exactly the single training with seed offset r
    single = _objective(tiny_data, space)
    for r in range(3):
        assert single.evaluate(space.base, seed_offset=r).metrics == repeats[r]


def test_rescore_top_trains_a_would_be_leader_again_and_keeps_the_mean(tiny_data, space):
    """Re-scoring on promotion: a candidate whose first value would rank among the study's best K is trained again
    with fresh seeds (offset ``repeats``) and its value is the mean; the others keep their single training."""
    structures = [space.base, *(space.base.with_layer(0, 0, dilation=d) for d in (2, 4, 8))]
    single = _objective(tiny_data, space)
    first = [single.evaluate(s).metrics for s in structures]
    second = [single.evaluate(s, seed_offset=1).metrics for s in structures]
    study = _run(_objective(tiny_data, space, rescore_top=1), space, structures)
    best = -np.inf
    for trial, a, b in zip(study.trials, first, second, strict=True):
        lead = a["F1@10"] > best  # K = 1: it would become the study's best
        if lead:
            assert trial.user_attrs["rescored"] == a and trial.user_attrs["repeats"] == [a, b]
            assert trial.value == pytest.approx((a["F1@10"] + b["F1@10"]) / 2)
            assert trial.user_attrs["epochs"] == 2 * 2  # both trainings counted
        else:
            assert "rescored" not in trial.user_attrs and "repeats" not in trial.user_attrs
            assert trial.value == a["F1@10"] and trial.user_attrs["epochs"] == 2
        best = max(best, trial.value)
    rescored = ["rescored" in t.user_attrs for t in study.trials]
    assert rescored[0] and not all(rescored)  # the first candidate always leads (nothing complete yet); not all do
    # with rotate_val the re-scoring is repeat 1: the next validation fold, seed offset 1
    rotated = _objective(tiny_data, space, rotate_val=True, rescore_top=1)
    repeats = _run(rotated, space, [space.base]).trials[0].user_attrs["repeats"]
    assert repeats[1] == rotated.evaluate(space.base, seed_offset=1, first=1).metrics
    names = [sorted(v.name for v in rotated.parts(k)[0][1]) for k in (0, 1)]
    assert names[0] != names[1] and names[0] == sorted(v.name for v in single.videos()[1])
    with pytest.raises(Exception, match="rescore_top: needs one maximised validation metric"):
        _objective(tiny_data, space, metric=["F1@10", "flops"], rescore_top=2)
    with pytest.raises(Exception, match="rescore_top"):
        _objective(tiny_data, space, rescore_top=-1)


@pytest.mark.parametrize("earlier_value, rescored", [(-1.0, True), (1000.0, False)])
def test_refinement_is_rescored_when_it_would_lead(tiny_data, space, earlier_value, rescored):
    """The structure EGI refinement adds to a study follows the same rule as a search candidate."""
    from g2l_automl.egi import EGILocalSearch
    from g2l_automl.search import refine_study

    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(value=earlier_value, user_attrs={"structure": space.base.to_dict(), "metrics": {}})
    )
    search = EGILocalSearch(epochs=2, interval=1, trainer=Trainer(epochs=2, batch_size=2, progress=False))
    (refined,) = refine_study(study, _objective(tiny_data, space, rescore_top=1), search, top=1, log=lambda *_: None)
    trainings = 2 if rescored else 1
    assert refined.user_attrs["epochs"] == refined.user_attrs["search_epochs"] + 2 * trainings
    assert ("rescored" in refined.user_attrs) == rescored
    if rescored:
        repeats = refined.user_attrs["repeats"]
        assert len(repeats) == 2 and refined.user_attrs["rescored"] == repeats[0]
        assert refined.value == pytest.approx(statistics.mean(r["F1@10"] for r in repeats))


def test_rotated_validation_folds_hold_out_different_videos(tiny_data, space):
    plain = _objective(tiny_data, space, val_fraction=0.25)
    rotated = _objective(tiny_data, space, val_fraction=0.25, repeats=4, rotate_val=True)
    parts = rotated.parts()
    vals = [sorted(v.name for v in val) for _, val in parts]
    assert vals[0] == sorted(v.name for v in plain.videos()[1])  # fold 0 is the plain split
    assert len({tuple(v) for v in vals}) == 4
    train_list = ActionSegmentationDataset(tiny_data).split("train", 1)
    assert set().union(*map(set, vals)) == set(train_list)  # the folds hold out every training video
    for train, val in parts:
        assert not {v.name for v in train} & {v.name for v in val}
    same = _objective(tiny_data, space, repeats=2).parts()
    assert [v.name for v in same[0][1]] == [v.name for v in same[1][1]]  # without rotation: one part


def test_a_repeated_structure_is_not_trained_again(tiny_data, space):
    a, b = space.base, space.base.with_layer(0, 0, dilation=4)
    study = _run(_objective(tiny_data, space), space, [a, b, a])
    first, _, again = study.trials
    assert again.state == TrialState.COMPLETE and again.user_attrs["duplicate_of"] == 0
    assert again.value == first.value and again.user_attrs["metrics"] == first.user_attrs["metrics"]
    assert again.user_attrs["train_seconds"] == 0.0 and again.intermediate_values == {}
    assert first.user_attrs["train_seconds"] > 0 and "duplicate_of" not in first.user_attrs
    assert "same structure as trial 0: its value, not trained again" in describe(again)


def test_config_noise_control_options_reach_the_objective(tmp_path, tiny_data):
    text = (
        "data: {root: " + str(tiny_data) + "}\n"
        "structure: {default: mstcn, num_stages: 1, num_layers: 3, channels: 8}\n"
        "space: {dilations: {k: 2, T: 3}}\n"
        "objective: {repeats: 2, rotate_val: true, common_seeds: false, rescore_top: 3}\n"
    )
    (tmp_path / "c.yaml").write_text(text)
    objective = build_objective(load_config(tmp_path / "c.yaml"), "cpu")
    assert (objective.repeats, objective.rotate_val, objective.common_seeds) == (2, True, False)
    assert objective.rescore_top == 3
    for old, bad, field in (
        ("repeats: 2", "repeats: 0", "objective.repeats"),
        ("rotate_val: true", "rotate_val: 1", "objective.rotate_val"),
        ("rescore_top: 3", "rescore_top: -1", "objective.rescore_top"),
        ("rescore_top: 3", "metric: [F1@10, flops], rescore_top: 3", "objective.rescore_top: needs one maximised"),
    ):
        (tmp_path / "b.yaml").write_text(text.replace(old, bad))
        with pytest.raises(Exception, match=field):
            load_config(tmp_path / "b.yaml")


def test_trials_record_the_training_epochs_they_spent(tiny_data, space):
    """Compute is counted in epochs: every repeat, the epochs before a prune, 0 for a structure scored before."""
    objective = _objective(tiny_data, space, repeats=2)
    objective.trainer = Trainer(epochs=3, batch_size=2, progress=False, device="cpu")
    a, b = space.base, space.base.with_layer(0, 0, dilation=4)

    class PruneTrialOneAtTwo(optuna.pruners.BasePruner):  # trial 1 is pruned after its second epoch
        def prune(self, study, trial):  # noqa: ANN001, ANN201
            return trial.number == 1 and trial.last_step == 2

    study = optuna.create_study(direction="maximize", pruner=PruneTrialOneAtTwo())
    for structure in (a, b, a):
        study.enqueue_trial(space.to_params(structure))
    study.optimize(objective, n_trials=3)
    full, pruned, again = study.trials
    assert full.state == TrialState.COMPLETE and full.user_attrs["epochs"] == 3 * 2
    assert pruned.state == TrialState.PRUNED and pruned.user_attrs["epochs"] == 2 * 2
    assert again.user_attrs["duplicate_of"] == 0 and again.user_attrs["epochs"] == 0
