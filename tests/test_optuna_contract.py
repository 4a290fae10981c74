"""Optuna's own sampler test cases, run against our samplers (genome from the study, no SearchSpace)."""

from __future__ import annotations

import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, MultiObjectiveSamplerTestCase, RelativeSamplerTestCase

from g2l_automl.samplers import SELECTION_MODES, EvolutionSampler, G2LGeneticSampler

FACTORIES = {
    **{
        f"g2l-{mode}": (lambda mode=mode: G2LGeneticSampler(population_size=4, seed=0, selection=mode))
        for mode in SELECTION_MODES
    },
    "evolution": lambda: EvolutionSampler(population_size=4, sample_size=2, max_mutations=2, seed=0),
}


@pytest.fixture(params=sorted(FACTORIES))
def _factory(request):
    return FACTORIES[request.param]


class TestBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self, _factory):
        return _factory


class TestRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self, _factory):
        return _factory


class TestMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self, _factory):
        return _factory
