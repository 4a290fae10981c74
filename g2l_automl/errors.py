"""Exception types raised at the package's boundaries.

Every error that bad user input can cause derives from :class:`G2LError`, so the CLI can print it as one clear
line and exit non-zero, while genuine bugs still surface as tracebacks.
"""

from __future__ import annotations


class G2LError(Exception):
    """Base class of the errors caused by bad input or configuration."""


class StructureError(G2LError, ValueError):
    """An invalid structure spec or G2L config (names the field and the value)."""


class DataError(G2LError, ValueError):
    """An invalid dataset (names the file and what is wrong with it)."""


class TrainingError(G2LError, RuntimeError):
    """Training cannot go on, e.g. the loss became NaN or infinite."""


class CheckpointError(G2LError, ValueError):
    """A checkpoint file that is missing, unreadable or not one of ours."""


class SpaceError(G2LError, ValueError):
    """An invalid search space or a parameter dict that does not fit the space (names the field and value)."""


class ConfigError(G2LError, ValueError):
    """An invalid study config file (names the file and the field)."""


class ParameterError(G2LError, ValueError):
    """An invalid constructor argument of a sampler, pruner, assessor or objective (names the parameter)."""
