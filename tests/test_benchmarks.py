import subprocess
import sys
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def test_train_throughput_quick_runs_both_loops_side_by_side():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for expected in ("machine:", "reference", "ours bs=1", "ours bs=4", "speed-up vs reference"):
        assert expected in result.stdout


def _quick(script: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_egi_layer_quick_prints_both_ratios():
    out = _quick("egi_layer.py")
    assert "fused/plain" in out and "naive/plain" in out


def test_pruning_quick_compares_both_arms():
    out = _quick("pruning.py")
    assert "trials egi (pruned)" in out and "(a) test F1@10" in out and "(b) epochs to the unpruned" in out


def test_egi_ablation_quick_prints_all_tables():
    out = _quick("egi_ablation.py")
    for row in ("T4 DARTS", "T5 2^i + EGI", "T5 random", "T6 S=4", "T7 sigmoid"):
        assert row in out


def test_scale_out_runs_small_on_a_journal_file():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale_out.py"), "--workers", "2", "--trials", "4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("journal")]
    assert [r[1] for r in rows] == ["g2l", "evolution"]
    assert all(r[3] == r[4] == "8" and r[5] == "0" and r[6] == "0" for r in rows), result.stdout


def test_evanet_quick_compares_the_three_searches():
    out = _quick("evanet.py")
    for row in ("EvaNet kernel space", "dilations only", "hand-designed MS-TCN", "test F1@10 of the best"):
        assert row in out


def test_videonas_quick_compares_the_four_methods():
    out = _quick("videonas.py")
    assert "| method | budget (epochs) | search+retrain s | test mAP | MFLOPs | params |" in out
    for row in ("| differentiable |", "| optuna TPE |", "| G2LGeneticSampler |", "| baseline R(2+1)D-like |"):
        assert row in out


def test_nastc_quick_compares_nastc_and_timeception():
    out = _quick("nastc.py")
    assert "| model | TC params | test mAP (%) | search s | train s |" in out
    assert "| NAS-TC |" in out and "| Timeception |" in out and "searched cells" in out


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_planted_signal_small_prints_the_table_and_the_target():
    out = _run("planted_signal.py", "--seeds", "2", "--folds", "2", "--random", "0", "--epochs", "1")
    for row in ("2^i", "all 1", "all max", "planted", "val-fold std"):
        assert row in out
    assert "F1@10: range of means" in out and "target <= 0.33" in out and "ranking by mean F1@10" in out


def test_compare_samplers_train_counts_epochs_and_rescores_on_test(tmp_path):
    journal = tmp_path / "j.log"
    pipeline = '{"pruner": {"name": "egi"}, "report": "val_loss", "refine_top": 1}'
    out = _run(
        "compare_samplers.py", "--objective", "train", "--epochs", "36", "--seeds", "0", "--samplers", "random",
        "--final-seeds", "1", "--pipeline", pipeline, "--storage", str(journal),
    )  # fmt: skip
    assert "36 epochs x 1 seeds" in out and "x 12 epochs to random best" in out
    for row in ("MS-TCN 2^i", "planted optimum", "random final structures", "g2l+pipeline final structures"):
        assert row in out
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    plain = optuna.load_study(study_name="train-random-seed0", storage=storage)
    assert [t.user_attrs["epochs"] for t in plain.trials] == [12, 12, 12]  # no pruner: every candidate trains 12
    piped = optuna.load_study(study_name="train-g2l+pipeline-seed0", storage=storage).trials
    # the search until 36 - (12 refine + 12 scoring) epochs, then the best refined by EGI (supernet epochs + 12),
    # then candidates again until the 36 epochs are spent
    assert piped[0].user_attrs["epochs"] == 12 and "refined_from" not in piped[0].user_attrs
    refined = [t for t in piped if "refined_from" in t.user_attrs]
    assert len(refined) == 1 and refined[0].user_attrs["refined_from"] == 0
    assert refined[0].user_attrs["epochs"] == refined[0].user_attrs["search_epochs"] + 12
    assert sum(t.user_attrs["epochs"] for t in piped) >= 36
