"""The ``rf-planted`` benchmark: a dataset whose best receptive field is known by construction.

A video is a chain of segments of exactly ``segment_length`` (L) frames. Each segment belongs to a *group*, visible
in every frame (the group's prototype), and within the group to one of two classes, ``a`` or ``b``, that look the
same everywhere except for a short *cue* at the segment's centre (``+cue`` for ``a``, ``-cue`` for ``b``, drawn at
random per segment). To label a frame a model must read the cue of its own segment, up to L/2 frames away: a
receptive field shorter than that cannot resolve the class. Neighbouring segments carry cues of their own, drawn
independently, so a receptive field much longer than L mixes in evidence that is pure distraction. Adjacent
segments always differ in group, so segment boundaries are visible and a segment never merges with its neighbour.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def ar1_noise(length: int, dim: int, corr: float, rng: np.random.Generator) -> np.ndarray:
    """(length, dim) unit-variance AR(1) temporal noise with lag-1 correlation ``corr``."""
    noise = np.empty((length, dim))
    noise[0] = rng.normal(size=dim)
    innovation = rng.normal(size=(length, dim)) * np.sqrt(1.0 - corr**2)
    for i in range(1, length):
        noise[i] = corr * noise[i - 1] + innovation[i]
    return noise


@dataclass(frozen=True)
class PlantedPreset:
    """Generator settings of the planted benchmark. ``cue_strength`` is the cue's norm relative to the
    unit-variance prototypes; ``noise`` the per-dimension std of the AR(1) temporal noise (``noise_corr``)."""

    num_groups: int = 3
    segment_length: int = 192
    segments_per_video: int = 6
    num_videos: int = 32
    feature_dim: int = 16
    num_folds: int = 4
    cue_length: int = 16
    cue_strength: float = 5.0
    noise: float = 0.7
    noise_corr: float = 0.7

    @property
    def num_classes(self) -> int:
        return 1 + 2 * self.num_groups

    @property
    def planted_reach(self) -> int:
        """How far (frames) the farthest frame of a segment is from the nearest frame of its own cue: the one-sided
        reach a stage needs to read the cue from every frame (a stack of kernel-3 layers reaches ``sum(d)``)."""
        return self.segment_length // 2 - self.cue_length // 2

    def class_names(self) -> list[str]:
        return ["background"] + [f"group{g}_{c}" for g in range(self.num_groups) for c in "ab"]

    def sample_video(
        self, prototypes: np.ndarray, cue: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One video: features (D, T) float32 and labels (T,) int64."""
        length, half = self.segment_length, self.cue_length // 2
        groups: list[int] = []
        for _ in range(self.segments_per_video):
            choices = [g for g in range(self.num_groups) if not groups or g != groups[-1]]
            groups.append(int(rng.choice(choices)))
        letters = rng.integers(0, 2, size=len(groups))
        labels = np.repeat(1 + 2 * np.array(groups) + letters, length)
        t = len(labels)
        features = prototypes[np.repeat(groups, length)].copy()
        for s, letter in enumerate(letters):
            centre = s * length + length // 2
            features[centre - half : centre - half + self.cue_length] += cue if letter == 0 else -cue
        features += self.noise * ar1_noise(t, self.feature_dim, self.noise_corr, rng)
        return features.T.astype(np.float32), labels.astype(np.int64)

    def make(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The shared draws of a dataset: group prototypes (G, D) and the cue vector (D,)."""
        prototypes = rng.normal(size=(self.num_groups, self.feature_dim))
        cue = rng.normal(size=self.feature_dim)
        return prototypes, cue / np.linalg.norm(cue) * self.cue_strength


def planted_dilations(preset: PlantedPreset, num_layers: int, candidates: Sequence[int]) -> list[int]:
    """The planted optimum of one stage, by construction: among the stacks of ``num_layers`` kernel-3 layers with
    dilations from ``candidates`` whose reach ``sum(d)`` is at least :attr:`PlantedPreset.planted_reach`, the one
    that leaves the fewest offsets in ``[0, planted_reach]`` unreachable (an offset is reachable when it is a signed
    sum of a subset of the dilations: a cue at that distance reaches the frame through one path of taps), then the
    one with the shortest reach (a longer one takes in other segments' cues); ties go to the smaller dilations.
    Returned in ascending order.

    Example:
        >>> planted_dilations(PlantedPreset(), 6, [2**i for i in range(9)])
        [1, 2, 4, 8, 16, 64]
    """
    need = preset.planted_reach
    ranked = (
        (_holes(dils, need), sum(dils), dils)
        for dils in itertools.combinations_with_replacement(sorted(set(candidates)), num_layers)
        if sum(dils) >= need
    )
    best = min(ranked, default=None)
    if best is None:
        raise ValueError(f"no {num_layers}-layer stack over {list(candidates)} reaches {need} frames")
    return list(best[2])


def _holes(dilations: Sequence[int], upto: int) -> int:
    """How many offsets in ``[0, upto]`` no signed subset sum of ``dilations`` hits."""
    reach = sum(dilations)
    hit = np.zeros(2 * reach + 1, dtype=bool)
    hit[reach] = True
    for d in dilations:
        hit = hit | np.roll(hit, d) | np.roll(hit, -d)  # no wrap-around: |sum| never exceeds reach
    return int((~hit[reach : reach + upto + 1]).sum())
