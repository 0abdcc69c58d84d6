"""PILCO: policy search through a Gaussian-process dynamics model."""

from mbrlax.agents.pilco.agent import PILCO, PILCOConfig, PILCOState, episode_starts
from mbrlax.agents.pilco.policies import LinearPolicy, RBFPolicy, init_policy

__all__ = [
    "PILCO",
    "LinearPolicy",
    "PILCOConfig",
    "PILCOState",
    "RBFPolicy",
    "episode_starts",
    "init_policy",
]
