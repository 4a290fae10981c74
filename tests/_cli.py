"""The one way the tests spell a ``g2l-optimize`` command line, and make a study with the ``optuna`` CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
OPTUNA = [str(BIN / "optuna")] if (BIN / "optuna").exists() else [shutil.which("optuna") or "optuna"]


def cli_argv(command: str, *extra: object, **options: object) -> list[str]:
    """``[command, --option value ..., *extra]`` as strings: ``study_name="s"`` gives ``--study-name s``, ``True``
    the bare flag, ``None`` leaves the option out; options keep their order.

    Example:
        >>> cli_argv("search", "--out", Path("o"), storage="j.log", study_name="s", n_trials=4, no_dashboard=True)
        ['search', '--storage', 'j.log', '--study-name', 's', '--n-trials', '4', '--no-dashboard', '--out', 'o']
    """
    argv = [command]
    for name, value in options.items():
        if value is None or value is False:
            continue
        argv.append(f"--{name.replace('_', '-')}")
        if value is not True:
            argv.append(str(value))
    return [*argv, *map(str, extra)]


def create_study(storage: str, name: str, *extra: str) -> None:
    """``optuna create-study --storage STORAGE --study-name NAME *extra``, as a user would."""
    subprocess.run(
        [*OPTUNA, "create-study", "--storage", storage, "--study-name", name, *extra], check=True, capture_output=True
    )
