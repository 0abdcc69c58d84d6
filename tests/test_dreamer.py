"""Dreamer's mechanics (the agent is not in the registry yet: its learning is not yet shown):
one update trains the world model, the critic and the actor from imagined trajectories with
finite losses and the same numbers for the same seed; acting stays inside the action bounds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.agents.dreamer import Dreamer, DreamerConfig
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_env
from mbrlax.models.rssm import RSSMConfig

TINY = DreamerConfig(
    model=RSSMConfig(deter=16, stoch=4, classes=4, units=16, layers=1, bins=21),
    units=16, layers=1, horizon=5, train_steps=2, batch_size=4, batch_length=8,
)  # fmt: skip


@pytest.mark.slow  # about 50 s, nearly all of it compiling the update
def test_an_update_trains_every_part_and_acting_stays_in_bounds():
    spec = make_env("mbrlax/Pendulum-v0").spec
    agent = Dreamer(TINY, spec)
    state = agent.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    rows = [
        Transition(
            rng.normal(size=3).astype(np.float32), rng.uniform(-2, 2, 1).astype(np.float32),
            np.float32(rng.normal()), rng.normal(size=3).astype(np.float32), np.bool_(False),
        )
        for _ in range(64)
    ]  # fmt: skip
    items = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    buffer = ReplayBuffer.create(rows[0], 64).add_batch(items)
    new, metrics = agent.update(state, buffer, jax.random.key(1))
    again, metrics_again = agent.update(state, buffer, jax.random.key(1))
    for name in ("loss", "actor_loss", "critic_loss", "imagined_return"):
        assert np.isfinite(float(metrics[name])), name
        assert float(metrics[name]) == float(metrics_again[name])  # same seed, same numbers
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), (state.actor, state.critic),
                           (new.actor, new.critic))  # fmt: skip
    assert all(jax.tree.leaves(changed)[:1]) and any(jax.tree.leaves(changed))
    state = agent.begin_episode(new)
    for t in range(3):
        action, state, _ = agent.act(state, jnp.ones(3) * t, jax.random.key(t))
        greedy, _, _ = agent.act_eval(state, jnp.ones(3) * t, jax.random.key(t))
        assert action.shape == (1,) and bool(jnp.all(jnp.abs(action) <= 2.0))
        assert bool(jnp.all(jnp.abs(greedy) <= 2.0))
    assert not bool(state.first)


def test_refuses_discrete_actions_and_bad_settings():
    with pytest.raises(ValueError, match="Discrete actions.*muzero"):
        Dreamer(TINY, make_env("CartPole-v1").spec)
    with pytest.raises(ValueError, match="min_std"):
        DreamerConfig(min_std=0.0)
