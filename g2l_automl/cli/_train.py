"""``g2l-optimize train``: train a structure on a dataset split, save the checkpoint, score the test split."""

from __future__ import annotations

import argparse
from pathlib import Path

from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_data_arguments, add_device_argument, check_option, open_dataset
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.metrics import format_table
from g2l_automl.models import build_model
from g2l_automl.structure import StructureSpec, load_structure, save_structure
from g2l_automl.training import Trainer, evaluate_videos, resolve_device, save_checkpoint


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train a model and score it on the test split",
        description="Train a structure (our JSON or a G2L config), a study config's structure or a default model "
        "(at any size) on the train list of a split, "
        "then score it on the test list. Writes model.pt, structure.json, history.json and metrics.json to --out.",
    )
    add_data_arguments(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--structure", help="structure file: our JSON or a G2L config ({'model': {...}})")
    which.add_argument(
        "--default",
        choices=["mstcn", "mstcn++"],
        help="a hand-designed default structure (4 x 10 x 64 unless --num-stages/--num-layers/--channels)",
    )
    which.add_argument(
        "--config", help="a study config (studies/*.yaml): train its structure section, the search's baseline"
    )
    size = p.add_argument_group("size of --default")
    size.add_argument("--num-stages", type=int, default=None, help="stages (mstcn++: 1 generation + N-1 refinement)")
    size.add_argument("--num-layers", type=int, default=None, help="layers per stage (mstcn++: refinement stages)")
    size.add_argument("--channels", type=int, default=None, help="feature maps per layer")
    p.add_argument("--epochs", type=int, default=50, help="training epochs (default: 50)")
    p.add_argument("--batch-size", type=int, default=1, help="videos per batch (default: 1, as MS-TCN)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (default: 5e-4)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="carve this fraction of the train list out as validation, scored every epoch (default: 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, dropout, batch order and split (default: 0)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_device_argument(p)
    p.add_argument("--out", required=True, help="output folder")


def default_structure(name: str, num_stages: int | None, num_layers: int | None, channels: int | None) -> StructureSpec:
    """``mstcn`` or ``mstcn++`` at another size (None: the paper's). MS-TCN: ``num_stages`` stages of
    ``num_layers`` layers; MS-TCN++: a generation stage of ``num_layers + 1`` dual-dilated layers and
    ``num_stages - 1`` refinement stages of ``num_layers`` (the paper's 11 / 3 x 10)."""
    if name == "mstcn":
        sizes = {"num_stages": num_stages, "num_layers": num_layers, "channels": channels}
        return StructureSpec.mstcn(**{k: v for k, v in sizes.items() if v is not None})
    sizes = {
        "num_r": None if num_stages is None else num_stages - 1,
        "num_layers_r": num_layers,
        "num_layers_pg": None if num_layers is None else num_layers + 1,
        "channels": channels,
    }
    return StructureSpec.mstcn_pp(**{k: v for k, v in sizes.items() if v is not None})


def _structure(args: argparse.Namespace) -> StructureSpec:
    sizes = {"--num-stages": args.num_stages, "--num-layers": args.num_layers, "--channels": args.channels}
    given = [option for option, value in sizes.items() if value is not None]
    if given and not args.default:
        raise G2LError(f"{given[0]}: sizes a --default model; --structure and --config give their own structure")
    for option, value in sizes.items():
        check_option(option, value, 1)
    if args.structure:
        return load_structure(args.structure)
    if args.config:
        return load_config(args.config, data_root=args.data).structure
    return default_structure(args.default, args.num_stages, args.num_layers, args.channels)


def run(args: argparse.Namespace) -> int:
    spec = _structure(args)
    check_out_dir(args.out)  # before training, not after it
    ds = open_dataset(args)
    train_names, val_names = ds.train_val_split(args.split, args.val_fraction, args.seed)
    train, test = ds.load(train_names), ds.load(ds.split("test", args.split))
    val = ds.load(val_names) if val_names else None
    device = resolve_device(args.device)
    trainer = Trainer(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=str(device),
        amp=not args.no_amp,
        seed=args.seed,
        progress=not args.no_progress,
    )
    model = build_model(spec, train[0].features.shape[0], ds.num_classes, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"training {spec.name} ({len(spec.stages)} stages, {n_params:,} parameters) on {len(train)} videos, "
        f"split {args.split}, device {device}"
    )

    def report(epoch: int, logs: dict) -> None:
        line = f"epoch {epoch:3d}/{args.epochs}  loss {logs['loss']:.4f}  train acc {logs['train_acc']:5.1f}"
        if "val" in logs:
            line += f"  val F1@10 {logs['val']['F1@10']:5.1f}  val acc {logs['val']['Acc']:5.1f}"
        print(line + f"  ({logs['seconds']:.1f}s)", flush=True)

    history = trainer.fit(model, train, val, callback=report, bg_labels=ds.bg_labels)
    metrics = evaluate_videos(model, test, ds.bg_labels, device=device, batch_size=args.batch_size)
    out = Path(args.out)
    save_checkpoint(
        out / "model.pt",
        model,
        class_names=ds.class_names,
        bg_classes=list(ds.bg_classes),
        sample_rate=ds.sample_rate,
        split=args.split,
        epochs=args.epochs,
        seed=args.seed,
    )
    save_structure(spec, out / "structure.json")
    write_json_atomic(out / "history.json", history)
    write_json_atomic(out / "metrics.json", {"subset": "test", "split": args.split, "metrics": metrics})
    print(f"\ntest split {args.split} ({len(test)} videos):\n{format_table(metrics)}")
    print(f"\nsaved {out / 'model.pt'} and {out / 'metrics.json'}")
    return 0
