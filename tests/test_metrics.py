import numpy as np
import pytest

from g2l_automl.metrics import edit_score, evaluate, f1_counts, levenshtein, segments


def test_segments_have_exclusive_ends_and_skip_background():
    labels, starts, ends = segments(["bg", "a", "a", "b", "bg", "bg", "a"], bg_classes=("bg",))
    assert labels == ["a", "b", "a"]
    assert starts.tolist() == [1, 3, 6]
    assert ends.tolist() == [3, 4, 7]  # the old off-by-one would give [2, 3, 6]


def test_boundary_off_by_one_changes_iou():
    # GT segment [0, 4), prediction [0, 2): IoU = 2/4 = 0.5 exactly (inclusive ends would give 1/3).
    gt = ["a"] * 4 + ["b"] * 4
    pred = ["a"] * 2 + ["c"] * 2 + ["b"] * 4
    tp, fp, fn = f1_counts(segments(pred, ()), segments(gt, ()), 0.5)
    assert (tp, fp, fn) == (2, 1, 0)


def test_hand_made_case_matches_the_reference_definitions():
    gt = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"]
    pred = ["a", "a", "b", "b", "b", "b", "b", "b", "c", "a"]
    m = evaluate([pred], [gt], bg_classes=())
    # pred segments: a[0,2) IoU .5 with GT a; b[2,8) IoU 4/6; c[8,9) IoU .5; a[9,10) IoU 1/10 with GT a (already hit)
    # tau=.1: TP a,b,c, FP a -> P=3/4, R=3/3 -> F1=6/7
    assert m["F1@10"] == pytest.approx(600 / 7)
    assert m["F1@25"] == pytest.approx(600 / 7)
    # tau=.5: a (.5) TP, b (.667) TP, c (.5) TP, a FP -> same
    assert m["F1@50"] == pytest.approx(600 / 7)
    assert m["Edit"] == pytest.approx((1 - 1 / 4) * 100)
    assert m["Acc"] == pytest.approx(70.0)


def test_f1_is_micro_summed_over_videos_and_edit_macro_averaged():
    v1 = (["a", "a", "b", "b"], ["a", "a", "b", "b"])  # perfect: tp 2
    v2 = (["c", "c", "c", "c"], ["a", "a", "b", "b"])  # fp 1, fn 2
    m = evaluate([v1[0], v2[0]], [v1[1], v2[1]], bg_classes=())
    precision, recall = 2 / 3, 2 / 4
    assert m["F1@50"] == pytest.approx(200 * precision * recall / (precision + recall))
    assert m["Edit"] == pytest.approx((100 + 0) / 2)
    assert m["Acc"] == pytest.approx(50.0)


def test_hit_ground_truth_segment_is_not_counted_twice():
    gt = ["a"] * 10
    pred = ["a"] * 5 + ["b"] + ["a"] * 4
    tp, fp, fn = f1_counts(segments(pred, ()), segments(gt, ()), 0.1)
    assert (tp, fp, fn) == (1, 2, 0)


def test_empty_predictions_and_ground_truths_do_not_crash():
    bg = ["background"] * 6
    act = ["background", "x", "x", "x", "background", "background"]
    only_bg = evaluate([bg], [act])
    assert only_bg["F1@10"] == 0.0 and only_bg["Edit"] == 0.0
    assert evaluate([act], [bg])["F1@50"] == 0.0  # every predicted segment is a false positive
    both_empty = evaluate([bg], [bg])
    assert both_empty["Edit"] == 100.0 and both_empty["Acc"] == 100.0 and both_empty["F1@10"] == 0.0
    assert edit_score([], []) == 100.0


def test_int_labels_and_numpy_arrays_work():
    gt = np.array([0, 0, 1, 1, 2])
    m = evaluate([gt.copy()], [gt], bg_classes=(0,))
    assert m == {"F1@10": 100.0, "F1@25": 100.0, "F1@50": 100.0, "Edit": 100.0, "Acc": 100.0}


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein([], ["a"]) == 1


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="video 0"):
        evaluate([["a"]], [["a", "a"]])
