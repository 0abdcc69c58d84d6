"""PILCO's pieces: episode starts, policies, the agent's checks, the swing-up env."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.agents.pilco import PILCO, PILCOConfig
from mbrlax.agents.pilco.agent import episode_starts
from mbrlax.agents.pilco.policies import empty_policy, init_policy
from mbrlax.data.buffer import Transition
from mbrlax.envs import get_task, make_jax_env
from mbrlax.envs.pendulum import angle_normalize


def _chain(obs_rows):
    """Transitions along consecutive observations (one episode)."""
    obs = jnp.asarray(obs_rows, jnp.float32)
    n = obs.shape[0] - 1
    return Transition(obs[:-1], jnp.zeros((n, 1)), jnp.zeros(n), obs[1:], jnp.zeros(n, bool))


def test_episode_starts_finds_every_reset_and_ignores_empty_rows():
    a = _chain([[0.0], [1.0], [2.0], [3.0]])  # rows 0-2
    b = _chain([[10.0], [11.0], [12.0]])  # rows 3-4: a reset
    empty = _chain([[5.0], [6.0], [7.0]])  # rows 5-6: past size
    data = jax.tree.map(lambda *x: jnp.concatenate(x), a, b, empty)
    p = episode_starts(data, 5)
    np.testing.assert_allclose(p, [0.5, 0, 0, 0.5, 0, 0, 0])


@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_policies_stay_inside_the_action_box(kind):
    low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])
    obs = jax.random.normal(jax.random.key(0), (50, 3))
    policy = init_policy(kind, jax.random.key(1), obs, jnp.ones(50), low, high, 10)
    field = "weights" if kind == "rbf" else "weight"
    big = eqx.tree_at(lambda p: getattr(p, field), policy, replace_fn=lambda w: w * 1000.0)
    actions = jax.vmap(big)(obs)
    assert actions.shape == (50, 2)
    assert bool(jnp.all((actions >= low) & (actions <= high)))
    assert float(jnp.max(actions[:, 0])) > 1.9 and float(jnp.min(actions[:, 0])) < -1.9
    centre = empty_policy(kind, 3, low, high, 10)(obs[0])  # the placeholder acts mid-box
    np.testing.assert_allclose(centre, [0.0, 0.5])


def test_pilco_refuses_envs_it_cannot_learn():
    cartpole = make_jax_env("mbrlax/CartPole-v0")
    with pytest.raises(ValueError, match="Discrete actions"):
        PILCO(PILCOConfig(), cartpole.spec, get_task("mbrlax/CartPole-v0"), 100)
    pend = make_jax_env("mbrlax/PendulumSwingup-v0").spec
    with pytest.raises(ValueError, match="needs the reward"):
        PILCO(PILCOConfig(), pend, None, 100)
    with pytest.raises(ValueError, match="capacity"):
        PILCO(PILCOConfig(), pend, get_task(pend.env_id), 0)
    with pytest.raises(ValueError, match="policy must be"):
        PILCOConfig(policy="mlp")


def test_swingup_env_starts_hanging_down_with_short_episodes():
    env = make_jax_env("mbrlax/PendulumSwingup-v0")
    assert env.spec.max_episode_steps == 100 and env.spec.env_id == "mbrlax/PendulumSwingup-v0"
    states, obs = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 200))
    assert float(jnp.min(jnp.abs(angle_normalize(states.theta)))) > np.pi - 0.1 - 1e-6
    assert float(jnp.max(jnp.abs(states.theta_dot))) <= 0.1
    np.testing.assert_allclose(obs[:, 0], jnp.cos(states.theta), atol=1e-6)
