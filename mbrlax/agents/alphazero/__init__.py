"""AlphaZero: MCTS guided by a policy-value network trained on search statistics."""

from mbrlax.agents.alphazero.agent import AlphaZero, AlphaZeroConfig, AlphaZeroState
from mbrlax.agents.alphazero.presets import alphazero_preset
from mbrlax.agents.base import AgentEntry
from mbrlax.training.config import RunnerConfig

ENTRY = AgentEntry(
    name="alphazero",
    label="AlphaZero",
    config=AlphaZeroConfig,
    make=lambda config, c: AlphaZero(config, c.spec, c.model),
    preset=alphazero_preset,
    default_env="mbrlax/CartPole-v0",
    title="Train AlphaZero (MCTS guided by a policy-value network) through a known model.",
    usage="mbrlax train alphazero --env CartPole-v1   (MCTS + policy-value network, known model)",
    env_help=(
        "the env acted in, with Discrete actions: an mbrlax JAX-native id (mbrlax/CartPole-v0, "
        "mbrlax/Catch-v0), or a Gymnasium id whose dynamics a JAX env models (CartPole-v1 with "
        "--model mbrlax/CartPole-v0)."
    ),
    agent_help=(
        "AlphaZero hyper-parameters (defaults come from the env's preset, see "
        "mbrlax.agents.alphazero.presets)."
    ),
    runner_help=(
        "run length, warm-up, evaluation; AlphaZero learns after every env step (refit-every 1)."
    ),
    saved=lambda state: state.net,
    saved_help="the policy-value network",
    runner=RunnerConfig(refit_every=1),
    known_model="AlphaZero searches",
    learned_instead="muzero",
)

__all__ = ["ENTRY", "AlphaZero", "AlphaZeroConfig", "AlphaZeroState"]
