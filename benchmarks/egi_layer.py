"""EGI's multi-dilated layer: fused shared-kernel form vs S separate convolutions vs one plain ``nn.Conv1d``.

Forward + backward (input, kernel and importance gradients) of one layer, C=64 channels, kernel 3, S=3 dilations
around D (G2L's candidates for D=64: 58, 64, 70), batch 1 as MS-TCN trains. The fused layer runs with its compiled
mixing kernel (``fused``) and in its Python form (``fused-py``, ``G2L_EGI_KERNEL=python``). The variants run
interleaved in rounds in one process, and the ratios use the median time per variant.

    python benchmarks/egi_layer.py [--lengths 1000 5000] [--batches 1 2 4] [--rounds 15] [--device cpu|cuda]
        [--epoch]

Targets: fused <= 1.3x the plain convolution on CPU (issue 4, batch 1; issue 15: batch 1-4, T 1,000-5,000).
``--epoch`` also times one training epoch of a whole EGI supernet (every dilated layer multi-dilated, as the local
search trains it) against the plain model of the same structure, side by side (issue 15 target: <= 1.2x), on
the rf-planted preset with its study config's model and batch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from g2l_automl.egi import MultiDilatedConv1d
from g2l_automl.egi._kernel import load_kernel


class _PythonForm(nn.Module):
    """The same fused layer with the compiled kernel switched off (the choice is made in the forward pass)."""

    def __init__(self, layer: MultiDilatedConv1d) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = os.environ.get("G2L_EGI_KERNEL")
        os.environ["G2L_EGI_KERNEL"] = "python"
        try:
            return self.layer(x)
        finally:
            if before is None:
                del os.environ["G2L_EGI_KERNEL"]
            else:
                os.environ["G2L_EGI_KERNEL"] = before


def _step(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    layer(x).backward(grad)


def _time(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor, reps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        _step(layer, x, grad)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps


def measure(
    length: int, rounds: int, device: torch.device, channels: int = 64, dilation: int = 64, batch: int = 1
) -> dict:
    torch.manual_seed(0)
    dilations = (round(0.9 * dilation), dilation, round(1.1 * dilation))
    layers = {
        "plain": nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation),
        "fused": MultiDilatedConv1d(channels, channels, 3, dilations),
        "naive": MultiDilatedConv1d(channels, channels, 3, dilations, fused=False),
    }
    layers["fused-py"] = _PythonForm(layers["fused"])
    for layer in layers.values():
        layer.to(device)
    x = torch.randn(batch, channels, length, device=device, requires_grad=True)
    grad = torch.randn(batch, channels, length, device=device)
    reps = max(1, 20_000 // (length * batch))
    for layer in layers.values():  # warm-up
        _time(layer, x, grad, reps, device)
    times: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(rounds):
        for name, layer in layers.items():
            times[name].append(_time(layer, x, grad, reps, device))
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "T": length,
        "batch": batch,
        "plain_ms": median["plain"] * 1e3,
        "fused_x": median["fused"] / median["plain"],
        "naive_x": median["naive"] / median["plain"],
        "python_x": median["fused-py"] / median["plain"],
        "fused_spread": (min(times["fused"]) / median["plain"], max(times["fused"]) / median["plain"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--epoch", action="store_true", help="also time a whole supernet epoch vs a plain one")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    args = parser.parse_args()
    device = torch.device(args.device)
    rounds = 1 if args.quick else args.rounds
    lengths = [200] if args.quick else args.lengths
    kernel = "compiled" if device.type == "cpu" and load_kernel() is not None else "python (no compiled kernel)"
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, C=64, K=3, S=3")
    print(f"fused mixing: {kernel}")
    print(
        f"{'batch':>5} {'T':>6} {'plain ms':>9} {'fused/plain':>12} {'(min..max)':>14} {'fused-py/plain':>15} "
        f"{'naive/plain':>12}"
    )
    for batch in args.batches:
        for length in lengths:
            r = measure(length, rounds, device, batch=batch)
            lo, hi = r["fused_spread"]
            spread = f"({lo:.2f}..{hi:.2f})"
            print(
                f"{batch:>5} {r['T']:>6} {r['plain_ms']:>9.3f} {r['fused_x']:>11.2f}x {spread:>14} "
                f"{r['python_x']:>14.2f}x {r['naive_x']:>11.2f}x",
                flush=True,
            )
    if args.epoch:
        plain, supernet = epoch_times(1 if args.quick else max(3, rounds // 3))
        print(
            f"whole epoch (rf-planted, 2x6x32, batch 4): plain {plain:.2f} s, EGI supernet {supernet:.2f} s, "
            f"ratio {supernet / plain:.2f}x (median of interleaved epochs)"
        )


def epoch_times(rounds: int) -> tuple[float, float]:
    """Median seconds of one training epoch of the plain model and of its EGI supernet, interleaved."""
    import tempfile
    from pathlib import Path

    from g2l_automl.config import load_config
    from g2l_automl.data import ActionSegmentationDataset, generate
    from g2l_automl.egi import EGILocalSearch
    from g2l_automl.models import build_model

    root = generate(Path(tempfile.mkdtemp()) / "rfp", "rf-planted", seed=0)
    config = load_config(Path(__file__).resolve().parents[1] / "studies" / "synthetic-rf-planted.yaml", str(root))
    data = ActionSegmentationDataset(root)
    videos = data.load(data.split("train", 1))
    t = config.training
    from g2l_automl.training import Trainer

    trainer = Trainer(epochs=1, batch_size=t["batch_size"], lr=t["lr"], progress=False, device="cpu")
    dim = videos[0].features.shape[0]
    plain = build_model(config.structure, dim, data.num_classes, seed=0)
    supernet = EGILocalSearch().supernet(config.structure, dim, data.num_classes)
    times: dict[str, list[float]] = {"plain": [], "supernet": []}
    for _ in range(rounds + 1):  # the first round warms up
        for name, model in (("plain", plain), ("supernet", supernet)):
            times[name].append(trainer.fit(model, videos)[0]["seconds"])
    return statistics.median(times["plain"][1:]), statistics.median(times["supernet"][1:])


if __name__ == "__main__":
    main()
