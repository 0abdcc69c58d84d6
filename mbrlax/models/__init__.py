"""Models: ``step(params, state, action, key) -> (next_state, reward, terminated)`` + ``fit``."""

from mbrlax.models.ensemble import (
    EnsembleConfig,
    EnsembleParams,
    EnsembleWeights,
    MemberPrediction,
    ProbabilisticEnsemble,
    TaskFn,
)
from mbrlax.models.propagation import Belief, elite_counts, particle_dynamics

__all__ = [
    "Belief",
    "EnsembleConfig",
    "EnsembleParams",
    "EnsembleWeights",
    "MemberPrediction",
    "ProbabilisticEnsemble",
    "TaskFn",
    "elite_counts",
    "particle_dynamics",
]
