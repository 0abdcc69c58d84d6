"""SAC: soft actor-critic, the model-free baseline and MBPO's policy learner."""

from mbrlax.agents.base import AgentEntry, learns_every_step
from mbrlax.agents.sac.agent import SAC, SAC_PAPER, SACConfig, SACLearner, SACState, sac_value_fn
from mbrlax.agents.sac.presets import sac_preset

ENTRY = AgentEntry(
    name="sac",
    label="SAC",
    config=SACConfig,
    make=lambda config, c: SAC(config, c.spec),
    preset=sac_preset,
    default_env="Pendulum-v1",
    title="Train SAC (model-free) on an env with Box observations and actions.",
    usage="mbrlax train sac --env Hopper-v5 [--total-steps 100000]   (model-free baseline)",
    env_help=(
        "a Gymnasium id (Pendulum-v1, InvertedPendulum-v5, Hopper-v5, HalfCheetah-v5, "
        "Walker2d-v5, ...) or an mbrlax JAX-native id."
    ),
    agent_help="SAC hyper-parameters (the paper's by default).",
    runner_help=(
        "run length (episodes, total-steps), warm-up (random actions before learning), "
        "evaluation; SAC learns after every env step (refit-every 1)."
    ),
    saved=lambda state: state.actor,
    saved_help="the policy network",
    check=learns_every_step("SAC", "", at_least=True),
)

__all__ = ["ENTRY", "SAC", "SAC_PAPER", "SACConfig", "SACLearner", "SACState", "sac_value_fn"]
