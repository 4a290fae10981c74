"""Import time: ``import g2l_automl.samplers`` against ``import optuna``, and ``g2l-optimize --help`` against
``optuna --help``, side by side in one run.

Each measurement is a fresh subprocess timed wall-clock from start to exit (interpreter start included, so both
sides pay it alike). The repeats of each pair are interleaved (ours, theirs, ours, theirs, ...) so that load on a
shared machine hits both alike, and the median is reported. The ``--help`` commands run the console scripts of the
interpreter's environment (``bin/`` beside ``sys.executable``).

    python benchmarks/import_time.py [--repeats 15]

Target (issue 17): each ratio ours / Optuna's at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.5
BIN = Path(sys.executable).parent


def _pairs() -> list[tuple[str, list[str], str, list[str]]]:
    """(label of ours, argv of ours, label of the reference, argv of the reference)."""
    return [
        ("import g2l_automl.samplers", [sys.executable, "-c", "import g2l_automl.samplers"],
         "import optuna", [sys.executable, "-c", "import optuna"]),
        ("g2l-optimize --help", [str(BIN / "g2l-optimize"), "--help"],
         "optuna --help", [str(BIN / "optuna"), "--help"]),
    ]  # fmt: skip


def _seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(repeats: int) -> list[tuple[str, float, str, float, float]]:
    """Per pair: (ours, median s, reference, median s, ratio ours / reference); one warm-up run each first."""
    rows = []
    for ours, ours_argv, ref, ref_argv in _pairs():
        _seconds(ours_argv), _seconds(ref_argv)  # warm the file cache (and .pyc files) for both
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            times[0].append(_seconds(ours_argv))
            times[1].append(_seconds(ref_argv))
        a, b = statistics.median(times[0]), statistics.median(times[1])
        rows.append((ours, a, ref, b, a / b))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each command (default: 15)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats: must be >= 1")
    print(
        f"import time, median of {args.repeats} fresh processes each, interleaved; machine: {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'ours':<28} {'s':>7}   {'reference':<16} {'s':>7}   {'ratio':>6}   target <= {TARGET}")
    met = True
    for ours, a, ref, b, ratio in measure(args.repeats):
        met &= ratio <= TARGET
        print(f"{ours:<28} {a:7.3f}   {ref:<16} {b:7.3f}   {ratio:6.2f}   {'met' if ratio <= TARGET else 'NOT met'}")
    print(f"target: {'met' if met else 'not met'}")


if __name__ == "__main__":
    main()
