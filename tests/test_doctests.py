"""The runnable examples in the docstrings stay runnable: every module of the package is walked, none is listed by
hand, so a new module's examples run from the start (``python -m pytest -q tests`` collects them here)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import g2l_automl

ROOT = Path(g2l_automl.__file__).parent
# entry points that run on import (``python -m``) and so cannot be imported to read their docstrings
NOT_IMPORTABLE = {"g2l_automl.cli.__main__"}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# every module whose source has an example, found on disk (importing nothing, so a package that fails to import
# fails its test instead of dropping out of the walk)
MODULES = sorted(
    name
    for path in ROOT.rglob("*.py")
    if (name := _name(path)) not in NOT_IMPORTABLE and ">>> " in path.read_text(encoding="utf-8")
)


def test_the_walk_finds_the_modules():
    assert "g2l_automl.samplers._g2l" in MODULES and "g2l_automl.structure._spec" in MODULES
    assert len(MODULES) >= 39


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    examples = [e for t in doctest.DocTestFinder().find(module) for e in t.examples]
    runnable = [e for e in examples if not e.options.get(doctest.SKIP)]
    assert examples, f"{name} has no example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted == len(runnable)  # every example ran but those marked +SKIP (e.g. needing a dataset)
    assert result.failed == 0


def test_the_test_helpers_examples():
    import _cli

    result = doctest.testmod(_cli)
    assert result.attempted > 0 and result.failed == 0
