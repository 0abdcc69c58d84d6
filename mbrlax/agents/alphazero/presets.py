"""Defaults that work, per env. ``mbrlax train alphazero --env ID`` starts from these.

AlphaZero learns after every env step (``refit_every = 1``) from a short random warm-up;
Gymnasium envs with a JAX twin search through the twin. The CartPole settings are those of
``benchmarks/search.py`` (16 simulations, 20,000 env steps; evaluation episodes hold the pole
for the full 500 steps from about 6,500).
"""

from __future__ import annotations

import dataclasses

from mbrlax.agents.alphazero.agent import AlphaZeroConfig
from mbrlax.planners import MCTS
from mbrlax.training.config import Preset, RunnerConfig

_RUNNER = RunnerConfig(
    episodes=100_000,  # the run is ended by total_steps
    total_steps=20_000,
    warmup_steps=500,
    refit_every=1,
    eval_episodes=1,
    eval_every=5,
    checkpoint_every=5000,
)
_SEARCH = MCTS(num_simulations=16, discount=0.99, dirichlet_fraction=0.25, temperature=1.0)
# CartPole ends when the cart drifts off its track, hundreds of steps after the push that
# started the drift: discount 0.997 (as MuZero's CartPole settings) sees that far, and held
# 10 of 10 episodes for 500 steps where 0.99 held 8. Returns reach 1 / (1 - 0.997), about 300.
_CARTPOLE = AlphaZeroConfig(search=dataclasses.replace(_SEARCH, discount=0.997), value_scale=300.0)

ALPHAZERO_PRESETS: dict[str, Preset] = {
    "mbrlax/CartPole-v0": Preset(_CARTPOLE, _RUNNER, None),
    "CartPole-v1": Preset(_CARTPOLE, _RUNNER, "mbrlax/CartPole-v0"),
    # Catch: one reward of +-1 per 9-step episode.
    "mbrlax/Catch-v0": Preset(
        AlphaZeroConfig(search=_SEARCH, value_scale=1.0),
        RunnerConfig(
            episodes=300,
            warmup_steps=90,
            refit_every=1,
            eval_episodes=5,
            eval_every=10,
            checkpoint_every=1000,
        ),  # fmt: skip
        None,
    ),
}


def alphazero_preset(env_id: str) -> Preset:
    """``(agent, runner, model id or None)`` for AlphaZero on ``env_id``."""
    return ALPHAZERO_PRESETS.get(env_id, Preset(AlphaZeroConfig(search=_SEARCH), _RUNNER, None))
