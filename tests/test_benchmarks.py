import subprocess
import sys
from pathlib import Path

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
