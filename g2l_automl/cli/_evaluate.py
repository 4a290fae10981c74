"""``g2l-optimize evaluate``: score a checkpoint on a subset of a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from g2l_automl._files import check_out_file, write_json_atomic
from g2l_automl.cli._common import add_data_arguments, add_device_argument, open_dataset
from g2l_automl.errors import CheckpointError
from g2l_automl.metrics import format_table
from g2l_automl.training import evaluate_videos, load_checkpoint, resolve_device


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="score a checkpoint",
        description="Score a checkpoint on the test (or train/val) list of a split; prints F1@{10,25,50}, Edit and "
        "Acc and writes them as JSON.",
    )
    add_data_arguments(p)
    p.add_argument("--checkpoint", required=True, help="model.pt written by 'g2l-optimize train'")
    p.add_argument("--subset", choices=["test", "train", "val"], default="test", help="which list (default: test)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation fraction for --subset val/train")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split (default: 0)")
    p.add_argument("--batch-size", type=int, default=1, help="videos per forward pass (default: 1)")
    add_device_argument(p)
    p.add_argument("--out", help="metrics JSON (default: metrics_<subset>_split<N>.json next to the checkpoint)")


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_out_file(args.out)
    device = resolve_device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device=device)
    ds = open_dataset(args, meta.get("sample_rate", 1), tuple(meta.get("bg_classes", ("background",))))
    if meta.get("class_names") and list(meta["class_names"]) != ds.class_names:
        raise CheckpointError(f"{args.checkpoint}: its classes differ from {ds.root / 'mapping.txt'}")
    if args.subset == "test":
        names = ds.split("test", args.split)
    else:
        train, val = ds.train_val_split(args.split, args.val_fraction if args.subset == "val" else 0.0, args.seed)
        names = val if args.subset == "val" else train
    videos = ds.load(names)
    dim = videos[0].features.shape[0]
    if dim != model.input_dim:
        raise CheckpointError(f"{args.checkpoint}: model expects {model.input_dim}-dim features, {ds.root} has {dim}")
    metrics = evaluate_videos(model, videos, ds.bg_labels, device=device, batch_size=args.batch_size)
    out = (
        Path(args.out) if args.out else Path(args.checkpoint).with_name(f"metrics_{args.subset}_split{args.split}.json")
    )
    write_json_atomic(
        out, {"subset": args.subset, "split": args.split, "checkpoint": str(args.checkpoint), "metrics": metrics}
    )
    print(f"{args.subset} split {args.split} ({len(videos)} videos):\n{format_table(metrics)}\n\nwrote {out}")
    return 0
