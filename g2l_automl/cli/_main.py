"""Entry point: one sub-command per module; errors from bad input print one line and exit with status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import nullcontext

from g2l_automl.cli import (
    _compare,
    _ensemble,
    _evaluate,
    _make_synthetic,
    _nastc,
    _nni_export,
    _nni_space,
    _refine,
    _report,
    _search,
    _train,
    _videonas,
)
from g2l_automl.errors import G2LError
from g2l_automl.search import hide_password
from g2l_automl.training import torch_threads

_COMMANDS = {
    "make-synthetic": _make_synthetic,
    "train": _train,
    "evaluate": _evaluate,
    "search": _search,
    "refine": _refine,
    "ensemble": _ensemble,
    "compare": _compare,
    "report": _report,
    "nni-space": _nni_space,
    "nni-export": _nni_export,
    "videonas": _videonas,
    "nastc": _nastc,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="g2l-optimize", description="Receptive-field and temporal architecture search for video models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _COMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        # --threads (every training command): torch's threads for the command, restored after (main runs in-process
        # in tests and notebooks); a search re-divides them among the workers on its host at each trial
        with torch_threads(getattr(args, "threads", None)) if hasattr(args, "threads") else nullcontext():
            return _COMMANDS[args.command].run(args) or 0
    except G2LError as exc:
        message = str(exc)
        for arg in argv:  # a storage password never reaches the terminal, whichever message carries the URL
            message = hide_password(message, arg)
        print(f"g2l-optimize {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"g2l-optimize {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
