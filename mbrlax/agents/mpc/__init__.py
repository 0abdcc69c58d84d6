"""Model predictive control through a known model: the JAX-native env itself, or the JAX twin
of a Gymnasium env (no learning)."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.mpc.agent import (
    KnownModelMPC,
    MPCConfig,
    MPCState,
    MPCTrajectory,
    mpc_rollout,
    observed_value,
)
from mbrlax.agents.mpc.presets import mpc_preset

ENTRY = AgentEntry(
    name="mpc",
    label="MPC",
    config=MPCConfig,
    make=lambda config, c: KnownModelMPC(config, c.spec, c.model),
    preset=mpc_preset,
    default_env="mbrlax/Pendulum-v0",
    title="Act with model predictive control through a known model (no learning).",
    usage="mbrlax train mpc --env mbrlax/CartpoleSwingup-v0 agent.planner:ilqr   (known model)",
    env_help=(
        "the env acted in: an mbrlax JAX-native id (mbrlax/Pendulum-v0, ...), or a Gymnasium "
        "id whose dynamics a JAX env models (Pendulum-v1 with --model mbrlax/Pendulum-v0)."
    ),
    agent_help="the planner (defaults come from the env's preset).",
    runner_help="episodes and evaluation (no warm-up: the model is known).",
    saved=None,
    saved_help="nothing: nothing is learned",
    runner=mpc_preset("").runner,
    known_model="MPC plans",
    learned_instead="pets",
)

__all__ = [
    "ENTRY",
    "KnownModelMPC",
    "MPCConfig",
    "MPCState",
    "MPCTrajectory",
    "mpc_rollout",
    "observed_value",
]
