"""``g2l-optimize nni-space``: the NNI search-space JSON of a study config."""

from __future__ import annotations

import argparse
import json

from g2l_automl._files import check_out_file, write_json_atomic
from g2l_automl.config import load_config


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="write the NNI search space of a study config",
        description="Print (or write with --out) the NNI search-space JSON of a config's space: one 'choice' key "
        "per gene, the file an NNI experiment's searchSpaceFile names.",
    )
    p.add_argument("--config", required=True, help="study config, e.g. studies/synthetic-tiny.yaml")
    p.add_argument("--out", default=None, help="write the JSON here instead of printing it")


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_out_file(args.out)
    space = load_config(args.config).space.to_nni()
    if args.out:
        write_json_atomic(args.out, space)
        print(f"wrote {len(space)} parameters to {args.out}")
    else:
        print(json.dumps(space, indent=1))
    return 0
