"""MuZero: tree search through a learned value-equivalent model."""

from mbrlax.agents.muzero.agent import MuZero, MuZeroConfig, MuZeroState, SequenceTargets
from mbrlax.agents.muzero.networks import MuZeroNets

__all__ = ["MuZero", "MuZeroConfig", "MuZeroNets", "MuZeroState", "SequenceTargets"]
