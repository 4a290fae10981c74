import numpy as np
import pytest
import torch

from g2l_automl.data import ActionSegmentationDataset, Video
from g2l_automl.errors import CheckpointError, TrainingError
from g2l_automl.models import build_model
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, load_checkpoint, predict, resolve_device, save_checkpoint, segmentation_loss

SMALL = StructureSpec.mstcn(num_stages=2, num_layers=4, channels=16)


@pytest.fixture(scope="module")
def videos(tiny_data):
    ds = ActionSegmentationDataset(tiny_data)
    return ds.load(ds.split("train", 1)), ds.load(ds.split("test", 1)), ds.num_classes


def _fit(videos, seed=0, **kw):
    train, _, k = videos
    model = build_model(SMALL, 32, k, seed=seed)
    history = Trainer(progress=False, seed=seed, **kw).fit(model, train)
    return model, history


def test_training_reduces_the_loss(videos):
    _, history = _fit(videos, epochs=6, batch_size=2, lr=2e-3)
    assert history[-1]["loss"] < 0.85 * history[0]["loss"]
    assert history[-1]["train_acc"] > history[0]["train_acc"] + 10
    assert set(history[0]) >= {"epoch", "loss", "train_acc", "seconds", "frames_per_s"}


def test_seeded_training_is_reproducible(videos):
    a, ha = _fit(videos, epochs=2, batch_size=2)
    b, hb = _fit(videos, epochs=2, batch_size=2)
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    _, hc = _fit(videos, seed=1, epochs=2, batch_size=2)
    assert [h["loss"] for h in hc] != [h["loss"] for h in ha]


def test_callback_gets_validation_metrics_every_epoch_and_can_stop_training(videos):
    train, test, k = videos
    seen = []

    def callback(epoch, logs):
        seen.append((epoch, sorted(logs["val"])))
        if epoch == 2:
            raise KeyboardInterrupt  # stands in for optuna.TrialPruned

    with pytest.raises(KeyboardInterrupt):
        Trainer(epochs=5, progress=False).fit(build_model(SMALL, 32, k), train, test, callback, bg_labels=[0])
    assert seen == [(1, ["Acc", "Edit", "F1@10", "F1@25", "F1@50"]), (2, ["Acc", "Edit", "F1@10", "F1@25", "F1@50"])]


def test_nan_loss_raises_a_clear_error():
    bad = Video("broken", np.full((4, 20), np.inf, np.float32), np.zeros(20, np.int64), np.zeros(20, np.int64))
    model = build_model(StructureSpec.mstcn(1, 2, channels=4), 4, 2, seed=0)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, batch 1 \(videos broken\)"):
        Trainer(epochs=1, progress=False).fit(model, [bad])


def test_loss_matches_mstcn_for_an_unpadded_video():
    torch.manual_seed(0)
    out, labels = torch.randn(3, 1, 5, 30), torch.randint(0, 5, (1, 30))
    mask = torch.ones(1, 1, 30)
    expected = 0.0
    for p in out:  # MS-TCN's train loop, verbatim in meaning
        expected += torch.nn.functional.cross_entropy(p.transpose(2, 1).reshape(-1, 5), labels.view(-1))
        mse = (torch.log_softmax(p[:, :, 1:], 1) - torch.log_softmax(p.detach()[:, :, :-1], 1)) ** 2
        expected += 0.15 * torch.mean(torch.clamp(mse, min=0, max=16) * mask[:, :, 1:])
    torch.testing.assert_close(segmentation_loss(out, labels, mask), expected)


def test_batched_predictions_equal_unbatched(videos):
    train, test, k = videos
    model = build_model(SMALL, 32, k, seed=0)
    one = predict(model, test, batch_size=1)
    many = predict(model, test, batch_size=3)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_round_trip(tmp_path, videos):
    train, test, k = videos
    model = build_model(SMALL, 32, k, seed=0)
    save_checkpoint(tmp_path / "m.pt", model, class_names=["x"] * k, sample_rate=1)
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta == {"class_names": ["x"] * k, "sample_rate": 1}
    assert loaded.spec == SMALL
    for a, b in zip(predict(model, test), predict(loaded, test), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary files left


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not a g2l_automl checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_parameters_are_validated_and_devices_resolved(monkeypatch):
    with pytest.raises(TrainingError, match="epochs: must be an integer >= 1, got 0"):
        Trainer(epochs=0)
    with pytest.raises(TrainingError, match=r"lr: must be a finite number in \(0, inf\)"):
        Trainer(lr=-1.0)
    with pytest.raises(TrainingError, match="train: no training videos"):
        Trainer(epochs=1, progress=False).fit(build_model(SMALL, 32, 3), [])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(TrainingError, match="no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(TrainingError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
