"""The Video-NAS architecture spec (Zhou et al., Tables 1-2): stem width, stage widths, stack-layer ops; JSON form.

Pure data (no torch): the discrete network is :class:`~g2l_automl.models.VideoNASNet`, the relaxed one
:class:`~g2l_automl.nas.VideoNASSupernet`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError

#: Stack-layer ops (Video-NAS Table 2) and the temporal dilation of each non-skip op.
OPS: tuple[str, ...] = ("dil1", "dil2", "dil4", "skip")
DILATIONS: dict[str, int] = {"dil1": 1, "dil2": 2, "dil4": 4}


@dataclass(frozen=True)
class VideoNASArch:
    """One discrete Video-NAS architecture: the stem width, one width per searched stage, and the ops of each
    stage's stack layers (``skip`` layers are identities; they keep positions so that an architecture maps back
    to the search space's genes).

    Example:
        >>> arch = VideoNASArch(16, (32, 64), (("dil1", "skip"), ("dil4",)))
        >>> arch.depths
        (1, 1)
        >>> VideoNASArch.from_dict(arch.to_dict()) == arch
        True
    """

    stem_channels: int
    widths: tuple[int, ...]
    ops: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        check_int(self.stem_channels, "stem_channels", error=StructureError)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise StructureError(f"widths: expected a non-empty tuple of stage widths, got {self.widths!r}")
        for s, width in enumerate(self.widths, start=1):
            check_int(width, f"stage{s}.channels", error=StructureError)
        if not isinstance(self.ops, tuple) or len(self.ops) != len(self.widths):
            raise StructureError(
                f"ops: expected one tuple of stack ops per stage ({len(self.widths)}), got {self.ops!r}"
            )
        for s, stage in enumerate(self.ops, start=1):
            if not isinstance(stage, tuple):
                raise StructureError(f"stage{s}.ops: expected a tuple of op names, got {stage!r}")
            for i, op in enumerate(stage):
                if op not in OPS:
                    raise StructureError(f"stage{s}.layer{i}.op: unknown op {op!r}; choose from {', '.join(OPS)}")

    @property
    def depths(self) -> tuple[int, ...]:
        """Non-skip stack layers per stage."""
        return tuple(sum(op != "skip" for op in stage) for stage in self.ops)

    def summary(self) -> str:
        """One line: ``C0 | width: ops | ...`` with skips left out, e.g. ``16 | 32: dil1 | 64: -``."""
        stages = [
            f"{w}: {' '.join(o for o in ops if o != 'skip') or '-'}"
            for w, ops in zip(self.widths, self.ops, strict=True)
        ]
        return " | ".join([str(self.stem_channels), *stages])

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem_channels": self.stem_channels,
            "stages": [{"channels": w, "ops": list(ops)} for w, ops in zip(self.widths, self.ops, strict=True)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoNASArch:
        """Inverse of :meth:`to_dict`; bad input raises :class:`~g2l_automl.errors.StructureError` naming the
        field."""
        if not isinstance(data, Mapping) or set(data) != {"stem_channels", "stages"}:
            raise StructureError(f"architecture: expected keys stem_channels and stages, got {data!r}")
        stages = data["stages"]
        if not isinstance(stages, Sequence) or isinstance(stages, str):
            raise StructureError(f"stages: expected a list of {{channels, ops}}, got {stages!r}")
        for s, stage in enumerate(stages, start=1):
            if not isinstance(stage, Mapping) or set(stage) != {"channels", "ops"}:
                raise StructureError(f"stage{s}: expected keys channels and ops, got {stage!r}")
            if not isinstance(stage["ops"], Sequence) or isinstance(stage["ops"], str):
                raise StructureError(f"stage{s}.ops: expected a list of op names, got {stage['ops']!r}")
        return cls(
            data["stem_channels"],
            tuple(stage["channels"] for stage in stages),
            tuple(tuple(stage["ops"]) for stage in stages),
        )


def check_videonas_candidates(
    candidates: Sequence[Sequence[int]], max_layers: Sequence[int], ops: Sequence[str]
) -> None:
    """Validate a Video-NAS space: distinct positive width candidates and a maximum depth (>= 0) per stage, and
    distinct ops from :data:`OPS`; :class:`~g2l_automl.errors.StructureError` names the field."""
    if not candidates or len(candidates) != len(max_layers):
        raise StructureError(
            f"widths / max_layers: expected one candidate list and one maximum depth per stage, got "
            f"{len(candidates)} and {len(max_layers)}"
        )
    for s, widths in enumerate(candidates, start=1):
        if not widths or len(set(widths)) != len(widths):
            raise StructureError(f"stage{s}.channels: expected distinct candidate widths, got {list(widths)!r}")
        for width in widths:
            check_int(width, f"stage{s}.channels", error=StructureError)
    for s, layers in enumerate(max_layers, start=1):
        check_int(layers, f"stage{s}.max_layers", 0, error=StructureError)
    if not ops or len(set(ops)) != len(ops) or any(op not in OPS for op in ops):
        raise StructureError(f"ops: expected distinct ops from {', '.join(OPS)}, got {list(ops)!r}")
