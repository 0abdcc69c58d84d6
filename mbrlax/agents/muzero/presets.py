"""Defaults that work, per env. ``mbrlax train muzero --env ID`` starts from these.

MuZero learns after every env step (``refit_every = 1``) from a short random warm-up. The
CartPole settings are those of ``benchmarks/search.py`` (16 simulations, 50,000 env steps,
evaluations of 10 episodes).
"""

from __future__ import annotations

from mbrlax.agents.muzero.agent import MuZeroConfig
from mbrlax.planners import MCTS
from mbrlax.training.config import Preset, RunnerConfig

_SEARCH = MCTS(num_simulations=16, discount=0.99, dirichlet_fraction=0.25, temperature=1.0)
_RUNNER = RunnerConfig(
    episodes=100_000,  # the run is ended by total_steps
    total_steps=50_000,
    warmup_steps=500,
    refit_every=1,
    eval_episodes=10,
    eval_every=10,
    checkpoint_every=5000,
)
# CartPole's discounted returns reach 1 / (1 - 0.99) = 100; scaled by 10, not 100, the value
# loss is not drowned by the policy loss early on, when returns are about 10.
_CARTPOLE = MuZeroConfig(search=_SEARCH, value_scale=10.0)

MUZERO_PRESETS: dict[str, Preset] = {
    "CartPole-v1": Preset(_CARTPOLE, _RUNNER),
    "mbrlax/CartPole-v0": Preset(_CARTPOLE, _RUNNER),
    # Catch: one reward of +-1 per 9-step episode.
    "mbrlax/Catch-v0": Preset(
        MuZeroConfig(search=_SEARCH),
        RunnerConfig(
            episodes=1000,
            warmup_steps=90,
            refit_every=1,
            eval_episodes=10,
            eval_every=20,
            checkpoint_every=1000,
        ),  # fmt: skip
    ),
}


def muzero_preset(env_id: str) -> Preset:
    """``(agent, runner)`` for MuZero on ``env_id``."""
    return MUZERO_PRESETS.get(env_id, Preset(MuZeroConfig(search=_SEARCH), _RUNNER))
