"""`Acrobot`: Gymnasium's Acrobot-v1 physics as a continuous-torque swing-up."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.acrobot import AcrobotEnv

from mbrlax.envs.acrobot import Acrobot, AcrobotState, reward_fn


def test_step_matches_gymnasium_book_dynamics():
    """Same state and torque in {-1, 0, 1} -> same next state as Acrobot-v1's ``step``."""
    rng = np.random.default_rng(0)
    gym_env = AcrobotEnv()
    gym_env.reset(seed=0)
    assert gym_env.book_or_nips == "book"
    env = Acrobot()
    step = jax.jit(env.step)
    for _ in range(8):
        s = np.concatenate(
            [rng.uniform(-np.pi, np.pi, 2), rng.uniform(-4, 4, 1), rng.uniform(-8, 8, 1)]
        )
        for a, torque in enumerate(AcrobotEnv.AVAIL_TORQUE):
            gym_env.state = s.copy()
            want_obs, *_ = gym_env.step(a)
            want = gym_env.state
            out = step(AcrobotState(*jnp.asarray(s, jnp.float32)), jnp.array([torque]))
            got = np.array(out.state, dtype=np.float64)
            # Angles compared modulo 2 pi (the wrap's boundary at +-pi may differ).
            dang = (got[:2] - want[:2] + np.pi) % (2 * np.pi) - np.pi
            np.testing.assert_allclose(dang, 0.0, atol=1e-4)
            np.testing.assert_allclose(got[2:], want[2:], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(out.obs, want_obs, atol=1e-4)
            assert not out.terminated


def test_speed_clip_matches_gymnasium():
    gym_env = AcrobotEnv()
    gym_env.reset(seed=0)
    s = np.array([0.3, -0.2, 12.5, 28.0])  # speeds near the limits: the clip is hit
    gym_env.state = s.copy()
    gym_env.step(2)
    out = Acrobot().step(AcrobotState(*jnp.asarray(s, jnp.float32)), jnp.array([1.0]))
    np.testing.assert_allclose(np.array(out.state)[2:], gym_env.state[2:], rtol=1e-4)
    assert np.isclose(abs(float(out.state.dtheta1)), 4 * np.pi) or np.isclose(
        abs(float(out.state.dtheta2)), 9 * np.pi
    )


def test_reward_fn_is_exact_and_in_range():
    env = Acrobot()
    key = jax.random.PRNGKey(0)
    n = 256
    ks, ka = jax.random.split(key)
    lo = jnp.array([-np.pi, -np.pi, -4 * np.pi, -9 * np.pi])
    states = AcrobotState(*jax.random.uniform(ks, (4, n), minval=lo[:, None], maxval=-lo[:, None]))
    actions = jax.random.uniform(ka, (n, 1), minval=-3.0, maxval=3.0)  # beyond the bounds
    obs = jax.vmap(env.observe)(states)
    out = jax.vmap(env.step)(states, actions)
    want = jax.vmap(reward_fn)(obs, actions, out.obs)
    np.testing.assert_array_equal(np.asarray(out.reward), np.asarray(want))
    assert np.all(out.reward <= 2.0) and np.all(out.reward >= -2.0 - 0.01 * env.max_torque**2)
    # Upright at rest with no torque scores the maximum 2; hanging down -2.
    up = env.observe(AcrobotState(*map(jnp.float32, (np.pi, 0.0, 0.0, 0.0))))
    down = env.observe(AcrobotState(*map(jnp.float32, (0.0, 0.0, 0.0, 0.0))))
    assert float(reward_fn(down, jnp.zeros(1), up)) == pytest.approx(2.0, abs=1e-6)
    assert float(reward_fn(up, jnp.ones(1), down)) == pytest.approx(-2.01, abs=1e-6)


def test_reset_spec_shapes_and_determinism():
    env = Acrobot()
    spec = env.spec
    assert spec.env_id == "mbrlax/AcrobotSwingup-v0"
    assert spec.obs_shape == (6,) and spec.action_shape == (1,)
    assert spec.action_kind == "continuous"
    assert spec.action_low == (-env.max_torque,) and spec.action_high == (env.max_torque,)
    assert spec.max_episode_steps == 200
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    states, obs = jax.vmap(env.reset)(keys)
    assert obs.shape == (64, 6)
    s = np.stack(states)
    assert np.all(np.abs(s) <= 0.1) and s.std() > 0.01  # hanging down, nearly at rest
    np.testing.assert_allclose(obs[:, 0], np.cos(s[0]), atol=1e-6)
    s1, o1 = env.reset(jax.random.PRNGKey(3))
    s2, o2 = env.reset(jax.random.PRNGKey(3))
    np.testing.assert_array_equal(o1, o2)
    out1, out2 = env.step(s1, jnp.array([0.5])), env.step(s2, jnp.array([0.5]))
    np.testing.assert_array_equal(out1.obs, out2.obs)
    assert out1.obs.shape == (6,) and out1.reward.shape == () and out1.terminated.shape == ()


def _return(env: Acrobot, state: AcrobotState, actions: jax.Array) -> jax.Array:
    def body(s, a):
        out = env.step(s, a)
        return out.state, out.reward

    _, rewards = jax.lax.scan(body, state, actions)
    return rewards.sum()


def test_jit_vmap_grad_of_return():
    env = Acrobot()
    states, _ = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(2), 2))
    actions = 0.5 * jax.random.normal(jax.random.PRNGKey(5), (2, 10, 1))
    ret, grads = jax.jit(jax.vmap(jax.value_and_grad(lambda s, a: _return(env, s, a), 1)))(
        states, actions
    )
    assert ret.shape == (2,) and grads.shape == (2, 10, 1)
    assert np.all(np.isfinite(ret)) and np.all(np.isfinite(grads))
    assert np.abs(grads).max() > 0


def test_rest_at_bottom_stays_at_rest():
    env = Acrobot()
    rest = AcrobotState(*([jnp.float32(0.0)] * 4))

    def body(s, _):
        out = env.step(s, jnp.zeros(1))
        return out.state, (out.state, out.reward)

    _, (states, rewards) = jax.lax.scan(body, rest, None, length=50)
    np.testing.assert_allclose(np.stack(states), 0.0, atol=1e-6)
    np.testing.assert_allclose(rewards, -2.0, atol=1e-6)


def test_render_rgb():
    env = Acrobot()
    state, _ = env.reset(jax.random.PRNGKey(0))
    img = env.render_rgb(state)
    assert img.shape == (200, 200, 3) and img.dtype == np.uint8
    assert (img != 255).any()
