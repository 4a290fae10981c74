"""Reading YAML configs made of sections of fields with defaults; every error names the file and the field (field
values are checked with :mod:`g2l_automl._checks`, ``where="FILE: section.field"``, ``error=ConfigError``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import yaml

from g2l_automl.errors import ConfigError


def read_sections(path: str, known: Collection[str]) -> Mapping[str, Any]:
    """The top-level mapping of the YAML file ``path``, whose keys must all be in ``known``."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # a folder given as the file, no permission, ...
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return check_sections(path, raw, known)


def check_sections(path: str, raw: Any, known: Collection[str]) -> Mapping[str, Any]:
    """``raw`` if it is a mapping whose keys are all in ``known``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(sorted(known))}")
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return raw


def merge_section(path: str, raw: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Section ``name`` of ``raw`` over its ``defaults`` (a missing or empty section is all defaults); a field not
    in ``defaults`` is an error."""
    data = raw.get(name) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: {name}: expected a mapping, got {data!r}")
    unknown = set(data) - set(defaults)
    if unknown:
        raise ConfigError(
            f"{path}: {name}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(defaults)}"
        )
    return {**defaults, **data}
