"""SAC: soft actor-critic, the model-free baseline and MBPO's policy learner."""

from mbrlax.agents.sac.agent import SAC, SAC_PAPER, SACConfig, SACLearner, SACState, sac_value_fn

__all__ = ["SAC", "SAC_PAPER", "SACConfig", "SACLearner", "SACState", "sac_value_fn"]
