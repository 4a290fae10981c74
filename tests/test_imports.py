"""The package's import rules, read from the source (ast, nothing imported): no import cycle between subpackages,
no upward import in the layer order below, and no private name imported from another subpackage.

Every ``import`` counts, also one inside a function or under ``TYPE_CHECKING`` (a lazy import is still a
dependency). Run alone: ``python -m pytest -q tests/test_imports.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import g2l_automl

PACKAGE = Path(g2l_automl.__file__).parent
ROOT = "g2l_automl"

#: Each unit (a subpackage, or a root-level module) with its layer, bottom first: a unit imports only units of a
#: lower layer. The bottom holds the shared modules every layer may use (errors, checks, files, trial attrs) and the
#: structure spec; the package root (``g2l_automl/__init__.py``, a lazy facade over all of them) is not a unit.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("_checks", "_files"),
    ("structure",),
    ("_attrs", "data", "metrics", "models", "spaces"),
    ("samplers", "pruners", "training"),
    ("egi", "nas"),
    ("objective", "reports"),
    ("config",),
    ("search",),
    ("nni",),
    ("cli",),
)
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}

#: Root-level modules that every unit may import although their names start with "_" (they are the shared bottom).
SHARED = {"_checks", "_files", "_attrs"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str | None:
    """The unit of a dotted module name under the package (None: the package root itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path: Path) -> Iterator[tuple[str, str, int]]:
    """``(imported module, imported name or "", line)`` for every import of the package in ``path``; relative
    imports are resolved, ``from g2l_automl import x`` of a submodule names the submodule."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(f"{ROOT}."):
                    yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base != ROOT and not base.startswith(f"{ROOT}."):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if (PACKAGE.parent / submodule.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / submodule.replace(".", "/") / "__init__.py"
                ).exists():
                    yield submodule, "", node.lineno
                else:
                    yield base, alias.name, node.lineno


def _edges() -> list[tuple[str, str, str, str, int]]:
    """``(importing module, its unit, imported module, imported name, line)`` across units."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        unit = _unit(module)
        if unit is None:  # the package root: a facade over every unit
            continue
        for target, name, line in _imports(path):
            if _unit(target) != unit:
                out.append((module, unit, target, name, line))
    return out


EDGES = _edges()


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {None}
    assert units - set(LAYER) == set(), "new subpackage or root module: add it to LAYERS"


def test_no_import_cycle_between_subpackages():
    graph: dict[str, set[str]] = {}
    for _, unit, target, _, _ in EDGES:
        if (other := _unit(target)) is not None:
            graph.setdefault(unit, set()).add(other)
    cycles, state = [], {}

    def visit(unit: str, stack: list[str]) -> None:
        state[unit] = "open"
        for other in sorted(graph.get(unit, ())):
            if state.get(other) == "open":
                cycles.append(" -> ".join([*stack[stack.index(other) :], other]))
            elif other not in state:
                visit(other, [*stack, other])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_no_upward_import():
    upward = [
        f"{module}:{line} ({unit}, layer {LAYER.get(unit)}) imports {target} ({_unit(target)}, layer "
        f"{LAYER.get(_unit(target))})"
        for module, unit, target, _, line in EDGES
        if _unit(target) is None or LAYER.get(_unit(target), 99) >= LAYER.get(unit, -1)
    ]
    assert upward == [], "upward or sideways imports:\n" + "\n".join(upward)


def _private(target: str, name: str) -> bool:
    """Whether importing ``name`` from ``target`` reaches past a unit's public surface: a name starting with "_", a
    private module inside the unit, or a private root-level module that is not :data:`SHARED`."""
    unit, inner = _unit(target) or "", target.split(".")[2:]
    private_unit = unit.startswith("_") and unit not in SHARED
    return private_unit or name.startswith("_") or any(p.startswith("_") and not p.startswith("__") for p in inner)


def test_no_private_name_across_subpackages():
    private = [
        f"{module}:{line} imports {target}{f' {name}' if name else ''}"
        for module, _, target, name, line in EDGES
        if _private(target, name)
    ]
    assert private == [], "private names imported from another subpackage:\n" + "\n".join(private)


@pytest.mark.parametrize(
    ("target", "name", "private"),
    [
        ("g2l_automl._checks", "check_int", False),  # a shared bottom module
        ("g2l_automl._checks", "_helper", True),
        ("g2l_automl.training", "torch_threads", False),
        ("g2l_automl.training._threads", "host_cores", True),
        ("g2l_automl.samplers", "_GenomeSamplerMixin", True),
    ],
)
def test_the_private_rule(target, name, private):
    assert _private(target, name) is private
