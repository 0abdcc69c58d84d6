"""MBPO: SAC on short branched rollouts through a probabilistic ensemble."""

from mbrlax.agents.base import AgentEntry, learns_every_step
from mbrlax.agents.mbpo.agent import MBPO, MBPOConfig, MBPOState
from mbrlax.agents.mbpo.presets import mbpo_preset
from mbrlax.agents.mbpo.rollout import Rollout, RolloutSchedule, branched_rollout

ENTRY = AgentEntry(
    name="mbpo",
    label="MBPO",
    config=MBPOConfig,
    make=lambda config, c: MBPO(config, c.spec, c.task),
    preset=mbpo_preset,
    default_env="Hopper-v5",
    title="Train MBPO (SAC on branched rollouts of a probabilistic ensemble).",
    usage="mbrlax train mbpo --env InvertedPendulum-v5   (SAC on model rollouts)",
    env_help=(
        "a Gymnasium id with Box observations and actions (InvertedPendulum-v5, Hopper-v5, "
        "Walker2d-v5, HalfCheetah-v5, Pendulum-v1, ...)."
    ),
    agent_help=(
        "MBPO hyper-parameters (defaults per env from the paper: see mbrlax.agents.mbpo.presets)."
    ),
    runner_help=(
        "run length (episodes, total-steps), warm-up (random actions before learning), "
        "evaluation; MBPO learns after every env step (refit-every 1)."
    ),
    saved=lambda state: (state.sac.actor, state.model_params),
    saved_help="the policy network and the ensemble",
    check=learns_every_step("MBPO", " (its schedule counts them)"),
)

__all__ = [
    "ENTRY",
    "MBPO",
    "MBPOConfig",
    "MBPOState",
    "Rollout",
    "RolloutSchedule",
    "branched_rollout",
]
