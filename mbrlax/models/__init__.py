"""Models: ``step(params, state, action, key) -> (next_state, reward, terminated)`` + ``fit``.

Neural (``ProbabilisticEnsemble``), non-parametric (``GaussianProcessModel``, exact or sparse),
parametric physics with system identification (``PendulumPhysics``, ``BicyclePhysics``) and
semi-parametric (``SemiParametricModel``: physics plus a learned residual) share that interface,
so every planner and agent can use any of them.
"""

from mbrlax.models.base import DynamicsModel, TaskFn
from mbrlax.models.ensemble import (
    EnsembleConfig,
    EnsembleParams,
    EnsembleWeights,
    MemberPrediction,
    ProbabilisticEnsemble,
)
from mbrlax.models.gp import (
    GaussianProcessModel,
    GPConfig,
    GPParams,
    exact_neg_log_marginal_likelihood,
    se_ard_kernel,
    sgpr_neg_elbo,
)
from mbrlax.models.physics import (
    BicyclePhysics,
    LevenbergMarquardt,
    PendulumPhysics,
    PhysicsModel,
    PhysicsParams,
)
from mbrlax.models.propagation import Belief, disagreement, elite_counts, particle_dynamics
from mbrlax.models.rssm import RSSM, RSSMConfig, RSSMState
from mbrlax.models.semiparametric import SemiParametricModel, SemiParametricParams

__all__ = [
    "Belief",
    "BicyclePhysics",
    "EnsembleConfig",
    "EnsembleParams",
    "EnsembleWeights",
    "GPConfig",
    "GPParams",
    "GaussianProcessModel",
    "LevenbergMarquardt",
    "MemberPrediction",
    "PendulumPhysics",
    "PhysicsModel",
    "PhysicsParams",
    "ProbabilisticEnsemble",
    "RSSM",
    "RSSMConfig",
    "RSSMState",
    "SemiParametricModel",
    "SemiParametricParams",
    "TaskFn",
    "DynamicsModel",
    "disagreement",
    "elite_counts",
    "exact_neg_log_marginal_likelihood",
    "particle_dynamics",
    "se_ard_kernel",
    "sgpr_neg_elbo",
]
