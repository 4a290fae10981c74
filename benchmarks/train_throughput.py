"""Training throughput: our Trainer against a minimal batch-size-1 MS-TCN loop, side by side in one run.

Both train the same model (MS-TCN, 4 stages x 10 layers, 64 maps, built with the same seed) on the same synthetic
videos; only the training loop differs. The reference loop is MS-TCN's ``train.py`` in meaning: one video per
step, CE + 0.15 * truncated MSE per stage, Adam 5e-4. Runs are interleaved (reference, ours bs=1, ours bs=B, ...)
so load on the machine hits all of them alike; each gets one untimed warm-up epoch.

    python benchmarks/train_throughput.py                      # gtea-like and breakfast-like presets
    python benchmarks/train_throughput.py --quick              # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from g2l_automl.data import ActionSegmentationDataset, Video, generate
from g2l_automl.models import build_model
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer


def reference_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, videos: list[Video], rng) -> float:
    """One epoch of the minimal batch-size-1 loop; returns seconds."""
    model.train()
    start = time.perf_counter()
    for i in rng.permutation(len(videos)):
        v = videos[i]
        x = torch.from_numpy(v.features)[None]
        y = torch.from_numpy(v.labels)
        mask = torch.ones(1, 1, v.num_frames)
        loss = 0.0
        for p in model(x, mask):
            loss += F.cross_entropy(p.transpose(2, 1).reshape(-1, p.shape[1]), y)
            mse = F.mse_loss(F.log_softmax(p[:, :, 1:], 1), F.log_softmax(p.detach()[:, :, :-1], 1), reduction="none")
            loss += 0.15 * torch.mean(torch.clamp(mse, 0, 16) * mask[:, :, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )


def measure(videos: list[Video], num_classes: int, spec: StructureSpec, epochs: int, batch_sizes: list[int]) -> dict:
    dim = videos[0].features.shape[0]
    frames = sum(v.num_frames for v in videos)
    ref_model = build_model(spec, dim, num_classes, seed=0)
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=5e-4)
    rng = np.random.default_rng(0)
    ours = {b: build_model(spec, dim, num_classes, seed=0) for b in batch_sizes}
    times: dict[str, list[float]] = {"reference": []} | {f"ours bs={b}": [] for b in batch_sizes}
    trainers = {b: Trainer(epochs=1, batch_size=b, progress=False, seed=0, device="cpu") for b in batch_sizes}
    for rep in range(epochs + 1):  # rep 0 warms up
        t = reference_epoch(ref_model, ref_opt, videos, rng)
        if rep:
            times["reference"].append(t)
        for b in batch_sizes:
            # Trainer.fit is one epoch here; its own timing excludes model.to() and optimizer set-up.
            t = trainers[b].fit(ours[b], videos)[0]["seconds"]
            if rep:
                times[f"ours bs={b}"].append(t)
    return {name: (float(np.median(ts)), frames / float(np.median(ts))) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["gtea-like", "breakfast-like"])
    parser.add_argument("--breakfast-videos", type=int, default=40, help="videos of the breakfast-like preset")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per loop (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny data and model, one epoch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = StructureSpec.mstcn()
    runs = [(p, {"num_videos": args.breakfast_videos} if p == "breakfast-like" else {}) for p in args.presets]
    if args.quick:
        spec, runs, args.epochs = (
            StructureSpec.mstcn(num_stages=2, num_layers=4, channels=16),
            [("tiny", {"num_videos": 8})],
            1,
        )
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for preset, changes in runs:
            ds = ActionSegmentationDataset(generate(Path(tmp) / preset, preset, seed=0, **changes))
            videos = ds.load(ds.split("train", 1))
            result = measure(videos, ds.num_classes, spec, args.epochs, args.batch_sizes)
            ref = result["reference"][0]
            print(f"\n{preset}: {len(videos)} training videos, {sum(v.num_frames for v in videos)} frames")
            print(f"{'loop':<14} {'s/epoch':>9} {'frames/s':>10} {'speed-up vs reference':>22}")
            for name, (seconds, fps) in result.items():
                print(f"{name:<14} {seconds:9.2f} {fps:10.0f} {ref / seconds:21.2f}x")
            bs1 = ref / result[f"ours bs={args.batch_sizes[0]}"][0]
            best = max(ref / result[f"ours bs={b}"][0] for b in args.batch_sizes)
            verdict = "met" if bs1 >= 0.95 else "NOT met"
            print(f"target ours bs=1 >= reference (0.95x allowing noise): {verdict} ({bs1:.2f}x)")
            print(f"target batching faster than reference: {'met' if best > 1.0 else 'NOT met'} ({best:.2f}x)")


if __name__ == "__main__":
    main()
