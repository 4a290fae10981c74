"""``g2l-optimize nastc``: search a NAS-TC cell with Temp-DARTS, retrain the NAS-TC network with it from scratch,
train the Timeception baseline the same way, and compare both on the test split (NAS-TC Table III in kind)."""

from __future__ import annotations

import argparse
from pathlib import Path

from g2l_automl._files import check_out_dir, write_json_atomic
from g2l_automl.cli._common import add_device_argument
from g2l_automl.config import load_nastc_config
from g2l_automl.nas import format_results, run_experiment
from g2l_automl.structure import Genotype, load_genotype, save_genotype


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="NAS-TC: Temp-DARTS cell search, retraining, and the Timeception comparison",
        description="Search a temporal cell with Temp-DARTS on the validation videos (skipped with --genotype), "
        "retrain the NAS-TC network with it from scratch, train the Timeception baseline with the same layers, "
        "and score both on the test split (video-level multi-label mAP). Writes results.json and genotype.json "
        "to --out.",
    )
    p.add_argument("--config", required=True, help="nastc YAML config (e.g. studies/nas/nastc-multilabel.yaml)")
    p.add_argument("--data", default=None, help="dataset folder; overrides data.root of the config")
    p.add_argument("--genotype", default=None, help="genotype JSON to retrain instead of searching one")
    add_device_argument(p)
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out)  # before the search, not after it
    config = load_nastc_config(args.config, args.data)
    genotype = load_genotype(args.genotype) if args.genotype else None
    out = Path(args.out)
    result = run_experiment(config, genotype, args.device, log=lambda line: print(line, flush=True))
    save_genotype(Genotype.from_dict(result["genotype"]), out / "genotype.json")
    write_json_atomic(out / "results.json", result)
    print(f"\n{format_results(result)}\n\nsaved {out / 'results.json'} and {out / 'genotype.json'}")
    return 0
