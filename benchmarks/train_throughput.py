"""Training throughput: our ``Trainer`` against a minimal batch-size-1 MS-TCN loop, side by side in one run.

What it measures: seconds per training epoch and frames per second of

* ``reference``: a bare loop written here, MS-TCN's ``train.py`` in meaning: one video per step, Adam (lr 5e-4),
  per stage cross-entropy + 0.15 * mean of the squared log-probability differences of neighbouring frames
  clamped at 16, all-ones masks, videos shuffled each epoch by a seeded RNG;
* ``ours bs=B``: :class:`g2l_automl.training.Trainer` with ``batch_size=B`` (padding, masks, length buckets).

Every loop trains its own copy of the same model (MS-TCN, 4 stages x 10 layers, 64 maps, dilations 2^i, built with
``seed=0``) on the same synthetic videos (train list of split 1), so only the training loop differs. Each loop gets
one untimed warm-up epoch; then the timed epochs are interleaved (reference, ours bs=1, ours bs=4, reference, ...)
so that load on the machine hits all loops alike, and the median epoch is reported. Our trainer is timed from the
outside around ``Trainer(epochs=1).fit(...)``, so its set-up (optimizer, seeding) counts against it.

Run it from the repository root::

    python benchmarks/train_throughput.py                       # gtea-like and breakfast-like (40 videos)
    python benchmarks/train_throughput.py --batch-sizes 1 2 4 8 --epochs 3
    python benchmarks/train_throughput.py --quick               # tiny data and model, seconds (used by the tests)

The ratio column is reference s/epoch / loop s/epoch: above 1 the loop is faster than the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from g2l_automl.data import ActionSegmentationDataset, Video, generate
from g2l_automl.models import build_model
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer

REFERENCE = "reference"
#: bs=1 may be this much slower than the reference and still count as "as fast" (timing noise on a shared machine).
NOISE_TOLERANCE = 0.95


def reference_epoch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, videos: Sequence[Video], rng: np.random.Generator
) -> float:
    """One epoch of the minimal batch-size-1 MS-TCN loop; returns its wall-clock seconds."""
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    mse = torch.nn.MSELoss(reduction="none")
    model.train()
    start = time.perf_counter()
    for i in rng.permutation(len(videos)):
        video = videos[i]
        x = torch.from_numpy(video.features)[None]
        y = torch.from_numpy(video.labels)[None]
        num_classes = model.num_classes
        mask = torch.ones(1, num_classes, video.num_frames)
        predictions = model(x, mask[:, 0:1, :])
        loss = torch.zeros(())
        for p in predictions:
            loss = loss + ce(p.transpose(2, 1).contiguous().view(-1, num_classes), y.view(-1))
            smooth = mse(F.log_softmax(p[:, :, 1:], dim=1), F.log_softmax(p.detach()[:, :, :-1], dim=1))
            loss = loss + 0.15 * torch.mean(torch.clamp(smooth, min=0, max=16) * mask[:, :, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


@dataclass
class Timing:
    """Timed epochs of one loop."""

    name: str
    batch_size: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median of the timed epochs."""
        return (max(self.seconds) - min(self.seconds)) / self.median


def measure(
    videos: Sequence[Video], num_classes: int, spec: StructureSpec, epochs: int, batch_sizes: Sequence[int]
) -> list[Timing]:
    """Warm each loop up for one epoch, then time ``epochs`` epochs of each, interleaved."""
    input_dim = videos[0].features.shape[0]
    ref_model = build_model(spec, input_dim, num_classes, seed=0)
    ref_optimizer = torch.optim.Adam(ref_model.parameters(), lr=5e-4)
    ref_rng = np.random.default_rng(0)
    models = {b: build_model(spec, input_dim, num_classes, seed=0) for b in batch_sizes}
    # One epoch per fit() call so the loops can be interleaved; seed=rep varies the batch order between epochs.
    timings = [Timing(REFERENCE, 1, [])] + [Timing(f"ours bs={b}", b, []) for b in batch_sizes]
    for rep in range(epochs + 1):  # rep 0 is the untimed warm-up
        seconds = [reference_epoch(ref_model, ref_optimizer, videos, ref_rng)]
        for b in batch_sizes:
            trainer = Trainer(epochs=1, batch_size=b, progress=False, seed=rep, device="cpu")
            start = time.perf_counter()
            trainer.fit(models[b], videos)
            seconds.append(time.perf_counter() - start)
        if rep:
            for timing, s in zip(timings, seconds, strict=True):
                timing.seconds.append(s)
    return timings


def machine() -> str:
    """Platform, CPU model, core count, torch version and threads, in one line."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    gpu = f"CUDA {torch.cuda.get_device_name(0)} (not used)" if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.system()} {platform.machine()}, {cpu} ({os.cpu_count()} logical CPUs), "
        f"Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {gpu}"
    )


def report(preset: str, videos: Sequence[Video], timings: Sequence[Timing]) -> None:
    """Print the table of one preset and whether the targets hold."""
    frames = sum(v.num_frames for v in videos)
    reference = timings[0].median
    print(f"\n{preset}: {len(videos)} training videos, {frames} frames, median of {len(timings[0].seconds)} epochs")
    print(f"{'loop':<14} {'batch':>5} {'s/epoch':>9} {'spread':>7} {'frames/s':>10} {'speed-up vs reference':>22}")
    for t in timings:
        ratio = reference / t.median
        print(
            f"{t.name:<14} {t.batch_size:>5} {t.median:9.2f} {t.spread:6.0%} {frames / t.median:10.0f} {ratio:21.2f}x"
        )
    ours = {t.batch_size: reference / t.median for t in timings[1:]}
    if 1 in ours:
        verdict = "holds" if ours[1] >= NOISE_TOLERANCE else "does NOT hold"
        print(
            f"target ours bs=1 at least as fast per epoch as the reference "
            f"(ratio >= {NOISE_TOLERANCE} allowing noise): {verdict} ({ours[1]:.2f}x)"
        )
    batched = {b: r for b, r in ours.items() if b > 1}
    if batched:
        best = max(batched, key=batched.__getitem__)
        verdict = "holds" if batched[best] > 1.0 else "does NOT hold"
        print(f"target ours with batching faster than the reference: {verdict} (best bs={best}: {batched[best]:.2f}x)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["gtea-like", "breakfast-like"], help="synthetic presets")
    parser.add_argument(
        "--breakfast-videos", type=int, default=40, help="videos of the breakfast-like preset (>= 8; default 40)"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], help="batch sizes of our trainer")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per loop, after one warm-up epoch")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny preset (8 videos), MS-TCN 2x4 with 16 maps, 1 epoch: seconds"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.threads < 1 or min(args.batch_sizes) < 1:
        parser.error("--epochs, --threads and --batch-sizes must be >= 1")
    if args.breakfast_videos < 8:
        parser.error("--breakfast-videos must be >= 8 (two per fold, 4 folds)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = StructureSpec.mstcn()
    runs: list[tuple[str, dict[str, Any]]] = [
        (p, {"num_videos": args.breakfast_videos} if p == "breakfast-like" else {}) for p in args.presets
    ]
    if args.quick:
        spec = StructureSpec.mstcn(num_stages=2, num_layers=4, channels=16)
        runs = [("tiny", {"num_videos": 8})]
        args.epochs = 1
        print(
            "--quick: a smoke test; its epochs take milliseconds, so fixed per-call costs and noise decide the ratios"
        )
    started = time.perf_counter()
    print(f"machine: {machine()}")
    layers, maps = len(spec.stages[0].layers), spec.stages[0].layers[0].channels
    print(f"model: MS-TCN, {len(spec.stages)} stages x {layers} layers, {maps} maps")
    print("ratio = reference s/epoch / loop s/epoch (> 1: faster than the reference)")
    with tempfile.TemporaryDirectory() as tmp:
        for preset, overrides in runs:
            path = generate(Path(tmp) / preset, preset, seed=0, overwrite=True, **overrides)
            ds = ActionSegmentationDataset(path)
            videos = ds.load(ds.split("train", 1))
            report(preset, videos, measure(videos, ds.num_classes, spec, args.epochs, args.batch_sizes))
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
