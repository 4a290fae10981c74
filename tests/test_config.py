"""Study configs: every shipped file loads; errors name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from g2l_automl.config import StudyConfig, load_config
from g2l_automl.errors import ConfigError, G2LError
from g2l_automl.spaces import SearchSpace
from g2l_automl.structure import StructureSpec

REPO = Path(__file__).parents[1]
STUDIES = sorted((REPO / "studies").glob("*.yaml"))

TINY = """\
data:
  root: data/tiny
  split: 1
structure: {default: mstcn, num_stages: 1, num_layers: 4, channels: 16}
space:
  dilations: {k: 2, T: 5}
training: {epochs: 3, batch_size: 2}
objective: {metric: F1@10}
samplers:
  evolution: {population_size: 4, sample_size: 2}
search: {sampler: evolution, n_trials: 8}
"""


def _write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_there_are_shipped_studies():
    names = {p.name for p in STUDIES}
    assert "synthetic-tiny.yaml" in names
    assert len(STUDIES) >= 4


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_every_shipped_study_loads(path):
    config = load_config(path)
    assert isinstance(config, StudyConfig)
    assert config.path == str(path)
    assert config.data["root"]
    assert isinstance(config.structure, StructureSpec)
    assert isinstance(config.space, SearchSpace) and config.space.genes
    assert config.space.base == config.structure
    assert config.training["epochs"] >= 1
    assert config.search["n_trials"] >= 1
    # The base structure fits its own space (so it can be enqueued as a seed of the population).
    assert config.space.to_structure(config.space.to_params(config.structure)) == config.structure


def test_tiny_study_values():
    config = load_config(REPO / "studies" / "synthetic-tiny.yaml")
    assert config.data["root"] == "data/tiny"
    assert config.data["val_fraction"] == 0.25
    assert config.data["sample_rate"] == 1  # default filled in
    assert len(config.structure.stages) == 1 and len(config.structure.stages[0].layers) == 4
    assert config.space.gene("stage0.layer3.dilation").choices == (1, 2, 4, 8, 16, 32)
    assert config.training == {"epochs": 3, "batch_size": 2, "lr": 0.001, "seed": 0, "amp": True}
    assert config.objective == {
        "kind": "segmentation",
        "metric": "F1@10",
        "report": "F1@10",
        "refine": False,
        "proxy_seed": 0,
        "repeats": 1,
        "rotate_val": False,
        "common_seeds": True,
        "rescore_top": 0,
    }
    assert config.refine["method"] == "egi" and config.refine["epochs"] == 2 and config.refine["top"] == 2
    assert config.refine["num_candidates"] == 3  # default filled in
    assert config.pruner["name"] == "none"
    assert config.samplers["evolution"]["population_size"] == 4
    assert config.search["sampler"] == "g2l" and config.search["n_trials"] == 8


def test_defaults_and_data_root_override(tmp_path):
    path = _write(tmp_path, TINY)
    config = load_config(path, data_root="/elsewhere/tiny")
    assert config.data["root"] == "/elsewhere/tiny"
    assert config.data["split"] == 1 and config.data["bg_classes"] == ["background"]
    assert config.training["lr"] == 5e-4 and config.training["batch_size"] == 2
    assert config.objective["report"] == "F1@10"
    assert config.search["timeout"] is None and config.search["sampler"] == "evolution"
    assert load_config(path).data["root"] == "data/tiny"
    assert load_config(str(path)).data["root"] == "data/tiny"


def test_data_root_from_the_command_line_only(tmp_path):
    path = _write(tmp_path, TINY.replace("  root: data/tiny\n", ""))
    with pytest.raises(ConfigError, match=r"data\.root"):
        load_config(path)
    assert load_config(path, data_root="data/x").data["root"] == "data/x"


def test_structure_defaults_to_mstcn_and_file_is_relative_to_the_config(tmp_path):
    config = load_config(
        _write(tmp_path, TINY.replace("structure: {default: mstcn, num_stages: 1, num_layers: 4, channels: 16}\n", ""))
    )
    assert config.structure == StructureSpec.mstcn()
    spec = StructureSpec.mstcn(num_stages=1, num_layers=3, channels=8)
    (tmp_path / "structures").mkdir()
    (tmp_path / "structures" / "s.json").write_text(json.dumps(spec.to_dict()))
    config = load_config(
        _write(
            tmp_path,
            TINY.replace(
                "structure: {default: mstcn, num_stages: 1, num_layers: 4, channels: 16}",
                "structure: {file: structures/s.json}",
            ),
        )
    )
    assert config.structure == spec


def _replace(old: str, new: str) -> str:
    assert old in TINY
    return TINY.replace(old, new)


@pytest.mark.parametrize(
    "text, field",
    [
        (TINY + "extras: {a: 1}\n", "extras"),
        (_replace("epochs: 3", "epochs: 3, epoch: 4"), "epoch"),
        (_replace("space:\n  dilations: {k: 2, T: 5}\n", ""), "space"),
        (_replace("dilations: {k: 2, T: 5}", "dilations: {k: 1, T: 5}"), "space.dilations.k"),
        (_replace("default: mstcn,", "default: unet,"), "structure.default"),
        (_replace("split: 1", "split: 1\n  splt: 2"), "splt"),
        (_replace("dilations: {k: 2, T: 5}", "dilatons: {k: 2, T: 5}"), "dilatons"),
        (_replace("metric: F1@10", "metric: F1@10, mode: max"), "mode"),
        (_replace("n_trials: 8", "n_trials: 8, trials: 9"), "trials"),
        (_replace("evolution: {population_size: 4, sample_size: 2}", "evolution: 3"), "samplers"),
        (
            _replace("{default: mstcn, num_stages: 1, num_layers: 4, channels: 16}", "{default: mstcn, layers: 4}"),
            "structure",
        ),
        (_replace("{default: mstcn, num_stages: 1, num_layers: 4, channels: 16}", "{}"), "structure"),
        (
            _replace("{default: mstcn, num_stages: 1, num_layers: 4, channels: 16}", "{file: structures/missing.json}"),
            "missing.json",
        ),
        (
            _replace("dilations: {k: 2, T: 5}", "dilations: {k: 2, T: 5}\n  max_receptive_field: 10"),
            "max_receptive_field",
        ),
        (_replace("dilations: {k: 2, T: 5}", "dilations: null"), "space"),
        ("- just\n- a list\n", "mapping"),
        ("training: [1, 2]\nspace: {dilations: {k: 2, T: 2}}\ndata: {root: x}\n", "training"),
    ],
    ids=[
        "unknown-section",
        "unknown-training-field",
        "missing-space",
        "dilations-k-1",
        "unknown-structure-default",
        "unknown-data-field",
        "unknown-space-dimension",
        "unknown-objective-field",
        "unknown-search-field",
        "sampler-options-not-a-mapping",
        "bad-structure-option",
        "structure-neither-default-nor-file",
        "structure-file-missing",
        "receptive-field-cap",
        "space-without-dimension",
        "not-a-mapping",
        "section-not-a-mapping",
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path, text, field):
    path = _write(tmp_path, text, name="broken-study.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert isinstance(info.value, G2LError) and isinstance(info.value, ValueError)


def test_invalid_yaml(tmp_path):
    path = _write(tmp_path, "data: {root: x\nspace: [\n", name="bad.yaml")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="no such config file") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path):
    path = _write(tmp_path, "", name="empty.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("metric: F1@10", "metric: nope", "objective.metric"),
        ("n_trials: 8", "n_trials: -1", "search.n_trials"),
        ("sampler: evolution", "sampler: nope", "search.sampler"),
        ("epochs: 3", "epochs: 0", "training.epochs"),
        ("split: 1", "split: 1\n  val_fraction: 0", "data.val_fraction"),
        ("sample_size: 2}", "sample_size: 9}", "samplers.evolution"),
        ("evolution: {population_size: 4, sample_size: 2}", "nope: {a: 1}", "samplers.nope"),
    ],
)
def test_bad_values_fail_at_load_naming_the_field(tmp_path, old, new, field):
    path = _write(tmp_path, _replace(old, new), name="values.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_the_config_makes_its_trainer_local_search_and_population(tmp_path):
    config = load_config(_write(tmp_path, TINY))
    trainer = config.trainer("cpu")
    assert (trainer.epochs, trainer.batch_size, trainer.seed, trainer.progress) == (3, 2, 0, False)
    assert config.trainer("cpu", epochs=7).epochs == 7
    search = config.local_search("cpu", epochs=4, interval=None)
    assert search.epochs == 4 and search.interval == config.refine["interval"]
    # no samplers.g2l section: the G2L sampler's own default M; given: the config's
    from g2l_automl.samplers import G2LGeneticSampler

    space = config.space
    assert config.population_size == G2LGeneticSampler(space).population_size == 50
    with_g2l = load_config(
        _write(tmp_path, TINY.replace("samplers:\n", "samplers:\n  g2l: {population_size: 6}\n"), "m.yaml")
    )
    assert with_g2l.population_size == 6


def test_config_does_not_import_search_or_torch():
    import subprocess
    import sys

    code = "import sys, g2l_automl.config\nprint('g2l_automl.search' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
