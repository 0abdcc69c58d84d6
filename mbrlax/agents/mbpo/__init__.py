"""MBPO: SAC on short branched rollouts through a probabilistic ensemble."""

from mbrlax.agents.mbpo.agent import MBPO, MBPOConfig, MBPOState
from mbrlax.agents.mbpo.rollout import Rollout, RolloutSchedule, branched_rollout

__all__ = ["MBPO", "MBPOConfig", "MBPOState", "Rollout", "RolloutSchedule", "branched_rollout"]
