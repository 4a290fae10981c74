"""The ``g2l-optimize`` command line."""

from g2l_automl.cli._main import main

__all__ = ["main"]
