"""Study configs: the YAML files under ``studies/`` that describe a search."""

from g2l_automl.config._study import StudyConfig, load_config

__all__ = ["StudyConfig", "load_config"]
