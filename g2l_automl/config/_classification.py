"""The ``data:`` section shared by the video-level classification configs (``videonas``, ``nastc``) and its one
split loader."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from g2l_automl._checks import check_int, check_real
from g2l_automl.errors import ConfigError

if TYPE_CHECKING:
    from g2l_automl.data import ClassificationSet

#: Fields and defaults of the ``data:`` section: the dataset folder (MS-TCN layout), the split (fold) number, the
#: fraction of its train list held out for validation and the seed of that draw, and the steps every video's
#: features are resampled to.
CLASSIFICATION_DATA: dict[str, Any] = {"root": None, "split": 1, "val_fraction": 0.25, "split_seed": 0, "steps": 64}


def check_classification_data(
    path: str, data: dict[str, Any], data_root: str | None = None, min_steps: int = 1
) -> dict[str, Any]:
    """Validate a merged ``data:`` section in place (``data_root`` overrides ``data.root``); errors name ``path``
    and the field."""
    if data_root is not None:
        data["root"] = data_root
    if not data["root"] or not isinstance(data["root"], (str, os.PathLike)):
        raise ConfigError(f"{path}: data.root: missing (give it in the config or with --data)")
    for key, minimum in (("split", 1), ("split_seed", 0), ("steps", min_steps)):
        check_int(data[key], f"{path}: data.{key}", minimum, error=ConfigError)
    where = f"{path}: data.val_fraction"
    check_real(data["val_fraction"], where, 0.0, 1.0, open_low=True, open_high=True, error=ConfigError)
    return data


def load_classification_splits(
    data: Mapping[str, Any],
) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]:
    """``(train, val, test)`` of a ``data:`` section: validation carved out of the train list of ``data.split``,
    test its test list, every video resampled to ``data.steps``."""
    from g2l_automl.data import ActionSegmentationDataset, classification_splits

    dataset = ActionSegmentationDataset(data["root"])
    return classification_splits(dataset, data["split"], data["val_fraction"], data["split_seed"], data["steps"])


@dataclass
class ClassificationConfig:
    """What the video-level configs share: where they came from (``path``, for messages) and the ``data:``
    section."""

    path: str
    data: dict[str, Any]

    def splits(self) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]:
        """The config's ``(train, val, test)`` sets (:func:`load_classification_splits`)."""
        return load_classification_splits(self.data)
