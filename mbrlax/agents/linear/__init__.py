"""Linear-model MPC: ridge-regression dynamics and a planner (the guide's example agent)."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.linear.agent import LinearMPC, LinearMPCConfig, LinearMPCState, features
from mbrlax.agents.linear.presets import linear_mpc_preset

ENTRY = AgentEntry(
    name="linear-mpc",
    label="LinearMPC",
    config=LinearMPCConfig,
    make=lambda config, c: LinearMPC(config, c.spec, c.task),
    preset=linear_mpc_preset,
    default_env="mbrlax/PointMass-v0",
    title="Fit linear dynamics by least squares and plan through them with the known reward.",
    usage="mbrlax train linear-mpc --env mbrlax/PointMass-v0   (a linear model, least squares)",
    env_help=(
        "an env with Box observations and actions whose reward mbrlax knows "
        "(mbrlax/PointMass-v0, InvertedPendulum-v5, ...; register yours with "
        "mbrlax.envs.register_task)."
    ),
    agent_help="the planner and the fit's ridge penalty.",
    runner_help="episodes, warm-up, evaluation; the model is refitted after every episode.",
    saved=lambda state: state.weights,
    saved_help="the model's weights",
)

__all__ = ["ENTRY", "LinearMPC", "LinearMPCConfig", "LinearMPCState", "features"]
