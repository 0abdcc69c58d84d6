"""PILCO: policy search through a Gaussian-process dynamics model."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.pilco.agent import PILCO, PILCOConfig, PILCOState, episode_starts
from mbrlax.agents.pilco.policies import LinearPolicy, RBFPolicy, init_policy
from mbrlax.agents.pilco.presets import pilco_preset

ENTRY = AgentEntry(
    name="pilco",
    label="PILCO",
    config=PILCOConfig,
    make=lambda config, c: PILCO(config, c.spec, c.task, c.buffer_capacity),
    preset=pilco_preset,
    default_env="mbrlax/PendulumSwingup-v0",
    title="Train PILCO (policy search through a Gaussian-process model).",
    usage="mbrlax train pilco --env mbrlax/PendulumSwingup-v0   (policy search through a GP model)",
    env_help=(
        "an env with Box observations and actions whose reward mbrlax knows as a function of "
        "observations (mbrlax/PendulumSwingup-v0, Pendulum-v1, mbrlax/Pendulum-v0, ...)."
    ),
    agent_help=(
        "PILCO hyper-parameters (defaults come from the env's preset, see "
        "mbrlax.agents.pilco.presets)."
    ),
    runner_help=(
        "episodes (the first one random: --warmup-steps), evaluation; PILCO learns after every "
        "episode."
    ),
    saved=lambda state: (state.model_params, state.policy),
    saved_help="the GP model and the policy",
)

__all__ = [
    "ENTRY",
    "PILCO",
    "LinearPolicy",
    "PILCOConfig",
    "PILCOState",
    "RBFPolicy",
    "episode_starts",
    "init_policy",
]
