"""Entry point: one sub-command per module; errors from bad input print one line and exit with status 2.

A sub-command's module (and with it torch, the models, the search) is imported only when that command runs or
prints its own help: ``g2l-optimize --help`` lists the commands from the table below alone.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType

from g2l_automl.errors import G2LError

# command -> (module in g2l_automl.cli, one-line help; the module's add_parser gives the same help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "make-synthetic": ("_make_synthetic", "generate a synthetic dataset"),
    "train": ("_train", "train a model and score it on the test split"),
    "evaluate": ("_evaluate", "score a checkpoint"),
    "search": ("_search", "search structures in an Optuna study"),
    "refine": ("_refine", "refine structures with EGI local search"),
    "ensemble": ("_ensemble", "ensemble the best distinct architectures of a study"),
    "compare": ("_compare", "compare searched structures with the baseline on the test split"),
    "report": ("_report", "write an HTML report of a study"),
    "nni-space": ("_nni_space", "write the NNI search space of a study config"),
    "nni-export": ("_nni_export", "print (and copy into an Optuna study) an NNI experiment's correctly paired results"),
    "videonas": ("_videonas", "Video-NAS width/depth/temporal-op search for video-level classification"),
    "nastc": ("_nastc", "NAS-TC: Temp-DARTS cell search, retraining, and the Timeception comparison"),
}


def command_module(name: str) -> ModuleType:
    """The module of sub-command ``name`` (imported on first use)."""
    return importlib.import_module(f"g2l_automl.cli.{_COMMANDS[name][0]}")


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser of ``commands`` (default: all); the other commands get a stub with their help line only."""
    parser = argparse.ArgumentParser(
        prog="g2l-optimize", description="Receptive-field and temporal architecture search for video models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_) in _COMMANDS.items():
        if commands is None or name in commands:
            command_module(name).add_parser(sub, name)
        else:
            sub.add_parser(name, help=help_, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> list[str]:
    """The sub-command that ``argv`` names (the top-level parser has no option with a value), or none."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return [first] if first in _COMMANDS else []


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    try:
        # --threads (every training command): torch's threads for the command, restored after (main runs in-process
        # in tests and notebooks); a search re-divides them among the workers on its host at each trial
        threads: AbstractContextManager[object] = nullcontext()
        if hasattr(args, "threads"):
            from g2l_automl.training import torch_threads

            threads = torch_threads(args.threads)
        with threads:
            return command_module(args.command).run(args) or 0
    except G2LError as exc:
        from g2l_automl.search import hide_password

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
