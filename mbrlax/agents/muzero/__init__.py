"""MuZero: tree search through a learned value-equivalent model."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.muzero.agent import MuZero, MuZeroConfig, MuZeroState, SequenceTargets
from mbrlax.agents.muzero.networks import MuZeroNets
from mbrlax.agents.muzero.presets import muzero_preset
from mbrlax.training.config import RunnerConfig

ENTRY = AgentEntry(
    name="muzero",
    label="MuZero",
    config=MuZeroConfig,
    make=lambda config, c: MuZero(config, c.spec),
    preset=muzero_preset,
    default_env="CartPole-v1",
    title="Train MuZero (MCTS through a learned value-equivalent model).",
    usage="mbrlax train muzero --env CartPole-v1   (MCTS through a learned latent model)",
    env_help=(
        "an env with Box observations and Discrete actions (CartPole-v1, Acrobot-v1, "
        "mbrlax/CartPole-v0, mbrlax/Catch-v0, ...)."
    ),
    agent_help=(
        "MuZero hyper-parameters (defaults come from the env's preset, see "
        "mbrlax.agents.muzero.presets)."
    ),
    runner_help=(
        "run length, warm-up, evaluation; MuZero learns after every env step (refit-every 1)."
    ),
    saved=lambda state: state.nets,
    saved_help="the representation, dynamics and prediction networks",
    runner=RunnerConfig(refit_every=1),
)

__all__ = ["ENTRY", "MuZero", "MuZeroConfig", "MuZeroNets", "MuZeroState", "SequenceTargets"]
