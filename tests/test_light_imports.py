"""The light entry points stay light: the samplers, spaces and pruners and ``g2l-optimize --help`` never load
torch, scikit-learn or plotly (every NNI trial start and every ``--help`` would pay seconds for them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "plotly")


def _loaded_after(code: str) -> dict[str, bool]:
    """Which heavy modules ``sys.modules`` holds after ``code`` ran in a fresh interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ["g2l_automl.samplers", "g2l_automl.spaces", "g2l_automl.pruners"])
def test_the_lower_layers_do_not_load_torch(module):
    assert _loaded_after(f"import {module}") == dict.fromkeys(HEAVY, False)


def test_the_cli_help_does_not_load_torch():
    code = "from g2l_automl.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_the_package_root_still_exports_every_name():
    import g2l_automl

    for name in g2l_automl.__all__:
        assert getattr(g2l_automl, name).__name__ == name
    assert g2l_automl.ParameterError.__module__ == "g2l_automl.errors"
    with pytest.raises(AttributeError):
        g2l_automl.no_such_name  # noqa: B018


def test_the_help_table_matches_each_command():
    """``g2l-optimize --help`` lists the commands from a table; each command's own parser gives the same help."""
    from g2l_automl.cli._main import _COMMANDS, build_parser

    listed = {a.dest: a.help for a in build_parser()._subparsers._group_actions[0]._choices_actions}
    assert listed == {name: help_ for name, (_, help_) in _COMMANDS.items()}
    stubs = {a.dest: a.help for a in build_parser([])._subparsers._group_actions[0]._choices_actions}
    assert stubs == listed


def test_the_lazy_table_names_every_export():
    import g2l_automl

    assert sorted(g2l_automl.__all__) == sorted(g2l_automl._SOURCES)
