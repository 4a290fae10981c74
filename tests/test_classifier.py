"""ClassifierTrainer: batching, validation at the boundary, clear errors; the multi-label view of a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from g2l_automl.data import (
    ActionSegmentationDataset,
    ClassificationSet,
    classification_set,
    generate,
    multi_hot,
    resample,
)
from g2l_automl.errors import DataError, TrainingError
from g2l_automl.training import ClassifierTrainer, evaluate_classifier
from g2l_automl.training._classifier import _batches

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _set(n: int, classes: int = 3, seed: int = 0) -> ClassificationSet:
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, classes, generator=g) > 0.5).float()
    targets[0] = 1.0
    return ClassificationSet(
        tuple(f"v{i}" for i in range(n)),
        torch.randn(n, 4, 8, generator=g),
        targets,
        tuple(f"c{j}" for j in range(classes)),
    )


class _Net(torch.nn.Module):
    """Batch norm over (batch, time): fails on a batch of one video with one time step."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 6, 8)  # length 8 -> 1
        self.norm = torch.nn.BatchNorm1d(6)
        self.out = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.norm(self.conv(x))).squeeze(-1))


def test_a_last_batch_of_one_joins_the_previous_one():
    assert [len(b) for b in _batches(np.arange(9), 4)] == [4, 5]
    assert [len(b) for b in _batches(np.arange(8), 4)] == [4, 4]
    assert [len(b) for b in _batches(np.arange(1), 4)] == [1]
    # 9 videos in batches of 4 (and validation batches for architecture steps) train batch norm without error
    model = _Net()
    arch = torch.nn.Parameter(torch.zeros(3))
    penalty = lambda: (arch**2).sum()  # noqa: E731
    history = ClassifierTrainer(epochs=2, batch_size=4, warmup_epochs=1).fit(
        model, _set(9), _set(5, seed=1), arch_parameters=[arch], arch_penalty=penalty
    )
    assert "arch_loss" in history[1] and np.isfinite(history[1]["loss"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"arch_weight_decay": "a"}, "arch_weight_decay"),
        ({"arch_betas": (0.5, 1.5)}, "arch_betas"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(TrainingError, match=field):
        ClassifierTrainer(**kwargs)


def test_architecture_steps_need_validation_videos_and_map_needs_a_positive():
    arch = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(TrainingError, match="val"):
        ClassifierTrainer(epochs=1).fit(_Net(), _set(4), None, arch_parameters=[arch])
    empty = ClassificationSet(("a", "b"), torch.randn(2, 4, 8), torch.zeros(2, 3), ("x", "y", "z"))
    with pytest.raises(DataError, match="mAP of 2 videos"):
        evaluate_classifier(_Net(), empty)


def test_multilabel_view_of_a_generated_dataset(tmp_path):
    data = ActionSegmentationDataset(generate(tmp_path / "m", "multilabel", seed=0, num_videos=24))
    names = data.split("test")
    videos = data.load(names)
    s = classification_set(data, names, steps=16)
    bg = set(data.bg_labels)
    classes = [c for c in range(data.num_classes) if c not in bg]
    assert s.class_names == tuple(data.class_names[c] for c in classes)
    for i, video in enumerate(videos):
        present = {data.class_names[c] for c in np.unique(video.full_labels) if c not in bg}
        assert {s.class_names[j] for j in np.flatnonzero(s.targets[i].numpy())} == present
        np.testing.assert_allclose(s.features[i].numpy(), resample(video.features, 16), rtol=1e-6)
    assert multi_hot(videos[0], classes).sum() == len({c for c in np.unique(videos[0].full_labels) if c not in bg})
    # the label sets differ between videos of the same activity (optional steps are skipped): 18 train videos of
    # 6 activities have more than 6 distinct label sets
    train = classification_set(data, data.split("train"), steps=16)
    assert len(train) == 18 and len({tuple(t.tolist()) for t in train.targets}) > 6
    with pytest.raises(DataError, match="steps"):
        classification_set(data, names, steps=0)
