"""The benchmarks' smoke runs: each runs small, and the numbers it prints are parsed and checked (finite, in range,
ratios and medians consistent with the figures they come from), not only its exit code and headers."""

import math
import re
import subprocess
import sys
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|inf|nan)"


def _numbers(text: str) -> list[float]:
    """Every number in ``text``, in order (``inf`` and ``nan`` included, so a non-finite figure is seen)."""
    return [float(x) for x in re.findall(NUMBER, text)]


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _close(a: float, b: float, decimals: int) -> bool:
    """``a`` and ``b`` agree to the printed precision (half a unit of the last decimal each, plus rounding)."""
    return abs(a - b) <= 1.01 * 10.0**-decimals


def _check_verdict(met: bool, value: float, op: str, target: float, decimals: int = 2) -> None:
    """A printed verdict agrees with the printed figure (unless the figure is the target to the printed
    precision, where the unrounded value decided)."""
    if not _close(value, target, decimals):
        assert met == {">=": value >= target, ">": value > target, "<=": value <= target, "<": value < target}[op]


def _line(out: str, start: str) -> str:
    """The one line of ``out`` that starts with ``start`` (stripped)."""
    lines = [line for line in out.splitlines() if line.strip().startswith(start)]
    assert len(lines) == 1, (start, out)
    return lines[0].strip()


def test_train_throughput_quick_runs_both_loops_side_by_side():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("machine:", "reference", "ours bs=1", "ours bs=4", "speed-up vs reference"):
        assert expected in out
    frames = _numbers(_line(out, "tiny:"))[1]
    rows = {}
    for name in ("reference", "ours bs=1", "ours bs=4"):
        batch, seconds, spread, fps, ratio = _numbers(_line(out, name).removeprefix(name).replace("%", ""))
        assert _finite(seconds, spread, fps, ratio) and seconds >= 0 and 0 <= spread < 1000 and fps > 0 and ratio > 0
        assert batch == (4 if name.endswith("4") else 1)
        # frames/s is the preset's frames over the s/epoch (printed with 2 decimals: compared where that holds)
        assert abs(fps * seconds - frames) <= 0.51 * seconds + 0.0051 * fps + 1, (fps, seconds, frames)
        rows[name] = fps, ratio
    assert rows["reference"][1] == 1.0
    for name in ("ours bs=1", "ours bs=4"):  # speed-up = reference s/epoch / loop s/epoch = loop fps / reference fps
        fps, ratio = rows[name]
        reference = rows["reference"][0]
        assert abs(ratio - fps / reference) <= 0.0051 + 0.51 * ratio * (1 / fps + 1 / reference), (name, rows)
    bs1 = _line(out, "target ours bs=1")
    assert _numbers(bs1.rsplit("(", 1)[1])[0] == rows["ours bs=1"][1]
    _check_verdict("does NOT hold" not in bs1, rows["ours bs=1"][1], ">=", _numbers(bs1.split("ratio >=")[1])[0])
    batched = _line(out, "target ours with batching")
    assert _numbers(batched.rsplit(":", 1)[1])[0] == rows["ours bs=4"][1]
    _check_verdict("does NOT hold" not in batched, rows["ours bs=4"][1], ">", 1.0)


def _quick(script: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_egi_layer_quick_prints_both_ratios():
    out = _quick("egi_layer.py")
    assert "fused/plain" in out and "naive/plain" in out
    header = next(i for i, line in enumerate(out.splitlines()) if "fused/plain" in line)
    (row,) = [line for line in out.splitlines()[header + 1 :] if line.strip()]
    batch, length, plain_ms, fused, lo, hi, python, naive = _numbers(row.replace("..", " "))
    assert (batch, length) == (1, 200)  # --quick: one batch of one 200-step sequence
    assert _finite(plain_ms, fused, lo, hi, python, naive) and min(plain_ms, fused, python, naive) > 0
    assert lo - 0.01 <= fused <= hi + 0.01  # the median fused/plain lies in its (min..max) over the rounds


def test_pruning_quick_compares_both_arms():
    out = _quick("pruning.py")
    assert "trials egi (pruned)" in out and "(a) test F1@10" in out and "(b) epochs to the unpruned" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+\d+ \(\d+\)", line)]
    assert len(rows) == 1, out  # --quick: one seed
    seed, trials_none, trials_egi, pruned, val_none, val_egi, test_none, test_egi = _numbers(" ".join(rows[0][:8]))
    assert seed == 0 and trials_none >= 1 and trials_egi >= 1 and 0 <= pruned <= trials_egi
    assert all(0 <= v <= 100 for v in (val_none, val_egi, test_none, test_egi))
    reach = " ".join(rows[0][8:])
    if not reach.startswith("never"):
        epochs, epochs_none, ratio = _numbers(reach.replace("/", " ").replace("=", " "))
        assert epochs_none > 0 and _close(ratio, epochs / epochs_none, 2)
    a, b = _line(out, "(a) test F1@10"), _line(out, "(b) epochs to")
    median_none, median_egi = _numbers(a.split("->")[0].split(":", 1)[1])
    assert (median_none, median_egi) == (test_none, test_egi)  # the median of one seed is that seed's value
    _check_verdict("NOT MET" not in a, median_egi, ">=", median_none)
    median_ratio = _numbers(b.split("median ratio")[1])[0]
    assert median_ratio == (math.inf if reach.startswith("never") else ratio)
    _check_verdict("NOT MET" not in b, median_ratio, "<=", 0.5)


def test_egi_ablation_quick_prints_all_tables():
    out = _quick("egi_ablation.py")
    for row in ("T4 DARTS", "T5 2^i + EGI", "T5 random", "T6 S=4", "T7 sigmoid"):
        assert row in out
    rows = {}
    for line in out.splitlines():
        if re.match(r"T\d ", line):
            label, cells = line[:22].strip(), _numbers(line[22:])
            assert len(cells) == 10, line  # F1@10, F1@25, F1@50, Edit, Acc: mean +- std each
            means, stds = cells[0::2], cells[1::2]
            assert all(0 <= m <= 100 for m in means) and stds == [0.0] * 5  # --quick: one seed, no spread
            assert means[0] + 0.1 >= means[1] and means[1] + 0.1 >= means[2]  # F1 falls as the overlap grows
            rows[label] = means
    assert len(rows) == 14, out
    for label in ("T6 S=3", "T7 abs", "T4 EGI"):  # the reference rows are the default EGI run from the global start
        assert rows[label] == rows["T5 global + EGI"]


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
    for row in rows:  # storage sampler workers trials expected duplicates lost generation seconds
        assert len(row) == 9 and row[2] == "2" and int(row[4]) == 2 * 4, row  # no "exit codes" after: all 0
        if row[7] != "-":  # the sizes of the full generations, smallest-largest
            smallest, largest = map(int, row[7].split("-"))
            assert 1 <= smallest <= largest <= 8, row
        assert _finite(float(row[8])) and float(row[8]) > 0, row


def test_evanet_quick_compares_the_three_searches():
    out = _quick("evanet.py")
    for row in ("EvaNet kernel space", "dilations only", "hand-designed MS-TCN", "test F1@10 of the best"):
        assert row in out
    table = {}
    for line in out.splitlines():
        if line.startswith("| ") and "+-" in line:
            name, *cells = [c.strip() for c in line.strip("|").split("|")]
            numbers = [_numbers(c) for c in cells]
            means_stds = [n for c, n in zip(cells, numbers, strict=True) if "+-" in c]
            assert all(0 <= m <= 100 and 0 <= sd <= 100 for m, sd in means_stds), line
            params = next(n[0] for c, n in zip(cells, numbers, strict=True) if c.endswith("k"))
            assert params > 0 and all(_finite(*n) for n in numbers), line
            table[name] = means_stds
    assert len(table) == 7 + 4, out  # 7 ops + 4 searches
    # each search's mean +- std (population) over seeds is that of the per-seed best structures listed after
    for method, row in (("evanet", "evolution, EvaNet kernel space"), ("dilations", "evolution, dilations only")):
        seeds = [_numbers(line.split(":")[1]) for line in out.splitlines() if line.startswith(f"- {method} seed")]
        assert len(seeds) == 2, out  # --quick: seeds 0 and 1
        for column, values in enumerate(zip(*seeds, strict=True)):  # best val F1@10, its test F1@10
            mean, std = table[next(k for k in table if k.startswith(row))][column]
            assert all(0 <= v <= 100 for v in values)
            assert abs(mean - sum(values) / 2) <= 0.1 and abs(std - abs(values[0] - values[1]) / 2) <= 0.1, row


def test_videonas_quick_compares_the_four_methods():
    out = _quick("videonas.py")
    assert "| method | budget (epochs) | search+retrain s | test mAP | MFLOPs | params |" in out
    for row in ("| differentiable |", "| optuna TPE |", "| G2LGeneticSampler |", "| baseline R(2+1)D-like |"):
        assert row in out
    for method in ("differentiable", "optuna TPE", "G2LGeneticSampler", "baseline R(2+1)D-like"):
        _, budget, seconds, test_map, mflops, params = [c.strip() for c in _line(out, f"| {method} |").split("|")[1:-1]]
        mean, std = _numbers(test_map)
        assert 0 < mean <= 100 and std == 0.0  # --quick: one seed
        assert float(seconds) >= 0 and float(mflops) > 0 and int(params) > 0 and _numbers(budget)[-1] >= 1
        # the architecture lines below the table carry each method's test mAP of the seed
        assert _numbers(_line(out, f"{method} ").rsplit("test mAP", 1)[1]) == [mean]


def test_nastc_quick_compares_nastc_and_timeception():
    out = _quick("nastc.py")
    assert "| model | TC params | test mAP (%) | search s | train s |" in out
    assert "| NAS-TC |" in out and "| Timeception |" in out and "searched cells" in out
    seeds = [line for line in out.splitlines() if re.match(r"seed \d+: NAS-TC", line)]
    assert len(seeds) == 3, out  # --quick: seeds 0, 1, 2
    for model in ("NAS-TC", "Timeception", "Timeception (M=3)"):
        values = [float(re.search(rf"{re.escape(model)} ({NUMBER})", line)[1]) for line in seeds]
        assert all(0 <= v <= 100 for v in values)
        params, test_map, *_ = [c.strip() for c in _line(out, f"| {model} |").split("|")[2:-1]]
        assert all(p > 0 for p in _numbers(params.replace(",", "").replace("-", " ")))  # a count or a range
        mean, std = _numbers(test_map)
        # mean +- std (ddof 1) over the seeds of the per-seed mAPs printed above it
        sample_std = math.sqrt(sum((v - sum(values) / 3) ** 2 for v in values) / 2)
        assert abs(mean - sum(values) / 3) <= 0.1 and abs(std - sample_std) <= 0.15, (model, values, mean, std)


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
    cell = rf"([\w@]+) +({NUMBER}) \+- +({NUMBER})"
    rows = {}  # structure -> {metric: (mean, std over the 2 init seeds)}
    for line in out.splitlines():
        if "val-fold std" in line:
            name = line[:9].strip()
            rows[name] = {m: (float(mean), float(std)) for m, mean, std in re.findall(cell, line.split("|")[-2])}
            assert set(rows[name]) == {"F1@10", "Edit", "Acc"}, line
            assert all(0 <= mean <= 100 and 0 <= std <= 100 for mean, std in rows[name].values()), line
            assert 0 <= _numbers(line.rsplit("F1@10", 1)[1])[0] <= 100
    assert list(rows) == ["2^i", "all 1", "all max", "planted"], out
    for metric in ("F1@10", "Edit", "Acc"):
        summary = _line(out, f"{metric}: range of means")
        spread, largest, ratio = _numbers(summary.split(":", 1)[1].split("(")[0])
        means, stds = zip(*(row[metric] for row in rows.values()), strict=True)
        assert abs(spread - (max(means) - min(means))) <= 0.151 and abs(largest - max(stds)) <= 0.101, summary
        if spread >= 1:  # the ratio of the unrounded figures, to the precision the two above allow
            assert abs(ratio - largest / spread) <= 0.006 + (0.05 + 0.05 * ratio) / spread, summary
        _check_verdict("NOT met" not in summary, ratio, "<=", 1 / 3)
    ranking = _line(out, "ranking by mean F1@10:").split(":", 1)[1].strip().split(", ")
    assert sorted(ranking) == sorted(rows)
    fitness = [rows[name]["F1@10"][0] for name in ranking]
    assert all(a + 0.1 >= b for a, b in zip(fitness, fitness[1:], strict=False)), (ranking, fitness)


def test_compare_samplers_train_counts_epochs_and_rescores_on_test(tmp_path):
    journal = tmp_path / "j.log"
    pipeline = '{"pruner": {"name": "egi"}, "report": "val_loss", "refine_top": 1}'
    out = _run(
        "compare_samplers.py", "--objective", "train", "--epochs", "36", "--seeds", "0", "--samplers", "random",
        "--final-seeds", "1", "--pipeline", pipeline, "--storage", str(journal),
        "--variants", 'random:r1={"objective": {"rescore_top": 1}}',
    )  # fmt: skip
    assert "36 epochs x 1 seeds" in out and "x 12 epochs to random best" in out
    for row in ("MS-TCN 2^i", "planted optimum", "random final structures", "g2l+pipeline final structures"):
        assert row in out
    cell = rf"({NUMBER}) \(({NUMBER})\.\.({NUMBER})\)"  # median (min..max) over the runs
    search, finals = out.split("final structures re-trained")

    def row(text: str, label: str) -> tuple[str, list[tuple[float, ...]]]:
        (line,) = [line for line in text.splitlines() if line.startswith(f"{label} ")]  # table rows, not indented
        return line, [tuple(map(float, c)) for c in re.findall(cell, line)]

    for name in ("random", "g2l+pipeline"):  # best validation F1@10 so far at 12, 24 and 36 epochs
        line, cells = row(search, name)
        assert len(cells) == 3 and all(lo == m == hi and 0 <= m <= 100 for m, lo, hi in cells), line  # one seed
        assert cells[0][0] <= cells[1][0] <= cells[2][0], line  # best so far never falls
        reach, seconds = line.split("..")[-1].split(")", 1)[1].rsplit(None, 1)
        assert _finite(float(seconds)) and float(seconds) > 0, line
        reached = reach.strip() != "never (0/1)"
        assert not reached or (1 <= _numbers(reach)[0] <= 3 and reach.endswith("(1/1 runs)")), line
        assert reached or name != "random", line  # the random run reaches its own final best by its last mark
    for label in ("MS-TCN 2^i", "planted optimum", "random", "g2l+pipeline"):  # test F1@10, Edit, Acc; runs
        line, cells = row(finals, label)
        assert len(cells) == 3 and all(lo <= m <= hi and 0 <= lo and hi <= 100 for m, lo, hi in cells), line
        assert line.split()[-1] == "1", line  # one run each
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    plain = optuna.load_study(study_name="train-random-seed0", storage=storage)
    assert [t.user_attrs["epochs"] for t in plain.trials] == [12, 12, 12]  # no pruner: every candidate trains 12
    # the variant row re-scores would-be leaders: the first candidate always (24 epochs), a later one only if it
    # would beat the best so far; the budget counts both trainings
    rescored = optuna.load_study(study_name="train-random:r1-seed0", storage=storage).trials
    assert rescored[0].user_attrs["epochs"] == 24 and len(rescored[0].user_attrs["repeats"]) == 2
    for t in rescored:
        assert t.user_attrs["epochs"] == (24 if "rescored" in t.user_attrs else 12)
    assert sum(t.user_attrs["epochs"] for t in rescored) >= 36 and "random:r1 final structures" in out
    piped = optuna.load_study(study_name="train-g2l+pipeline-seed0", storage=storage).trials
    # the search until 36 - (12 refine + 12 scoring) epochs, then the best refined by EGI (supernet epochs + 12),
    # then candidates again until the 36 epochs are spent
    assert piped[0].user_attrs["epochs"] == 12 and "refined_from" not in piped[0].user_attrs
    refined = [t for t in piped if "refined_from" in t.user_attrs]
    assert len(refined) == 1 and refined[0].user_attrs["refined_from"] == 0
    assert refined[0].user_attrs["epochs"] == refined[0].user_attrs["search_epochs"] + 12
    assert sum(t.user_attrs["epochs"] for t in piped) >= 36


def test_import_time_prints_both_pairs_and_their_ratios():
    out = _run("import_time.py", "--repeats", "1")
    rows = {}
    for ours, reference in (("import g2l_automl.samplers", "import optuna"), ("g2l-optimize --help", "optuna --help")):
        line = _line(out, ours)
        assert reference in line
        a, b, ratio = _numbers(line.removeprefix(ours).replace(reference, " "))
        assert _finite(a, b, ratio) and a > 0 and b > 0 and ratio > 0
        assert abs(ratio - a / b) <= 0.0051 + 0.00051 * ratio * (1 / a + 1 / b)  # from the 3-decimal seconds
        _check_verdict("NOT met" not in line, ratio, "<=", 1.5)
        rows[ours] = ratio
    _check_verdict(_line(out, "target:") == "target: met", max(rows.values()), "<=", 1.5)
