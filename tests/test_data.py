import numpy as np
import pytest

from g2l_automl.data import IGNORE_INDEX, ActionSegmentationDataset, Video, batch_order, collate, iterate_batches
from g2l_automl.errors import DataError


def test_reads_the_layout(handmade):
    ds = ActionSegmentationDataset(handmade)
    assert ds.class_names == ["background", "a", "b"] and ds.folds == [1]
    videos = ds.load(ds.split("train"))
    assert [v.name for v in videos] == [f"v{i}" for i in range(5)]
    assert videos[0].features.shape == (4, 14) and videos[0].features.dtype == np.float32
    assert videos[0].labels.tolist() == [0] * 3 + [1] * 5 + [2] * 4 + [0] * 2


def test_missing_trailing_newline_keeps_the_last_frame(handmade):
    path = handmade / "groundTruth" / "v0.txt"
    path.write_text(path.read_text().rstrip("\n"))
    (handmade / "splits" / "train.split1.bundle").write_text("v0.txt\nv1.txt")  # bundle without newline too
    ds = ActionSegmentationDataset(handmade)
    assert ds.split("train") == ["v0", "v1"]
    assert ds.load_video("v0").num_frames == 14


def test_sample_rate_subsamples_and_keeps_full_labels(handmade):
    v = ActionSegmentationDataset(handmade, sample_rate=2).load_video("v1")
    assert v.num_frames == 8 and v.features.shape == (4, 8) and len(v.full_labels) == 15 and v.sample_rate == 2


def test_small_length_mismatch_is_truncated(handmade):
    feats = np.load(handmade / "features" / "v0.npy")
    np.save(handmade / "features" / "v0.npy", np.concatenate([feats, feats[:, :2]], axis=1))
    assert ActionSegmentationDataset(handmade).load_video("v0").features.shape == (4, 14)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: (r / "features" / "v2.npy").unlink(), r"features/v2.npy: feature file not found"),
        (lambda r: (r / "groundTruth" / "v2.txt").unlink(), r"groundTruth/v2.txt: file not found"),
        (
            lambda r: np.save(r / "features" / "v2.npy", np.zeros((4, 40), np.float32)),
            r"v2.npy: 40 feature frames but .*v2.txt has 16 labels",
        ),
        (
            lambda r: (r / "groundTruth" / "v2.txt").write_text("a\nc\n"),
            r"v2.txt, line 2: label 'c' is not in .*mapping.txt",
        ),
        (
            lambda r: np.save(r / "features" / "v2.npy", np.full((4, 16), np.nan, np.float32)),
            r"v2.npy: features contain NaN or inf",
        ),
        (
            lambda r: np.save(r / "features" / "v2.npy", np.full((4, 16), np.inf, np.float32)),
            r"v2.npy: features contain NaN or inf",
        ),
        (
            lambda r: np.save(r / "features" / "v2.npy", np.zeros((4, 16, 1), np.float32)),
            r"v2.npy: features must have shape \(D, T\), got ndim=3",
        ),
        (
            lambda r: np.save(r / "features" / "v2.npy", np.zeros((3, 16), np.float32)),
            r"v2.npy: feature dimension 3 differs",
        ),
        (lambda r: (r / "features" / "v2.npy").write_text("garbage"), r"v2.npy: cannot read features"),
    ],
)
def test_bad_videos_name_the_file(handmade, breakage, message):
    breakage(handmade)
    ds = ActionSegmentationDataset(handmade)
    with pytest.raises(DataError, match=message):
        ds.load(ds.split("train"))


def test_bad_splits_and_mappings(handmade):
    (handmade / "splits" / "test.split1.bundle").write_text("\n")
    ds = ActionSegmentationDataset(handmade)
    with pytest.raises(DataError, match=r"test.split1.bundle: the split lists no videos"):
        ds.split("test")
    with pytest.raises(DataError, match=r"train.split3.bundle: split file not found \(available splits: 1\)"):
        ds.split("train", 3)
    with pytest.raises(DataError, match="empty split"):
        ds.load([])
    (handmade / "mapping.txt").write_text("0 background\n2 a\n")
    with pytest.raises(DataError, match=r"mapping.txt: class indices must be 0..1"):
        ActionSegmentationDataset(handmade)
    (handmade / "mapping.txt").write_text("background\n")
    with pytest.raises(DataError, match=r"mapping.txt, line 1: expected '<index> <name>'"):
        ActionSegmentationDataset(handmade)
    with pytest.raises(DataError, match="dataset folder not found"):
        ActionSegmentationDataset(handmade / "nope")


def test_validation_split_is_seeded_disjoint_and_never_touches_test(handmade):
    ds = ActionSegmentationDataset(handmade)
    train, val = ds.train_val_split(1, val_fraction=0.4, seed=3)
    assert len(val) == 2 and len(train) == 3 and not set(train) & set(val)
    assert set(train) | set(val) == set(ds.split("train"))
    assert ds.train_val_split(1, 0.4, seed=3) == (train, val)
    assert any(ds.train_val_split(1, 0.4, seed=s) != (train, val) for s in range(10))
    assert ds.train_val_split(1, 0.0) == (ds.split("train"), [])
    with pytest.raises(DataError, match="val_fraction"):
        ds.train_val_split(1, 1.0)


def test_validation_split_needs_two_training_videos(tmp_path, make_dataset):
    ds = ActionSegmentationDataset(make_dataset(tmp_path / "one", {"v": ["a", "b"]}))
    with pytest.raises(DataError, match="1 training video"):
        ds.train_val_split(1, 0.5)


def _video(name, n):
    return Video(name, np.ones((2, n), np.float32), np.arange(n) % 3, np.arange(n) % 3)


def test_collate_pads_with_masks_and_ignored_labels():
    batch = collate([_video("a", 3), _video("b", 5)])
    assert batch.features.shape == (2, 2, 5) and batch.mask.shape == (2, 1, 5)
    assert batch.mask[0, 0].tolist() == [1, 1, 1, 0, 0]
    assert batch.labels[0].tolist() == [0, 1, 2, IGNORE_INDEX, IGNORE_INDEX]
    assert batch.features[0, :, 3:].abs().sum() == 0


def test_batch_order_covers_every_video_once_and_buckets_lengths():
    lengths = [10, 500, 12, 480, 11, 490, 13, 470]
    order = batch_order(lengths, 2, np.random.default_rng(0))
    assert sorted(i for b in order for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[1]]) < 100 for b in order)
    assert batch_order(lengths, 2, np.random.default_rng(0)) == order
    assert [len(b.names) for b in iterate_batches([_video(str(i), 4) for i in range(5)], 2)] == [2, 2, 1]
