"""GradientShooting against oracles: exact gradients, known optima, bounds, NaNs, swing-up."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import make_jax_env
from mbrlax.envs.base import as_step_fn
from mbrlax.envs.pendulum import PendulumState
from mbrlax.planners import GradientShooting, differentiable_return, sequence_returns

LOW = np.array([-1.0, -0.5], np.float32)
HIGH = np.array([1.0, 0.5], np.float32)
# Per-step targets (7 steps) inside the bounds, and far outside them (optimum: the bound).
TARGET_IN = jnp.stack(
    [
        jnp.array([0.6, 0.4, 0.1, -0.2, -0.4, -0.5, -0.5]),
        jnp.array([0.3, -0.2, 0.45, 0.0, -0.1, 0.2, 0.1]),
    ],
    axis=-1,
)
TARGET_OUT = jnp.stack([jnp.full((7,), 3.0), jnp.full((7,), -2.0)], axis=-1)


def _tracking(target):
    def step(t, a, key):
        del key
        return t + 1, -jnp.sum((a - target[t]) ** 2), jnp.array(False)

    return step


def _jit_plan(planner):
    return jax.jit(planner.plan, static_argnames="step")


def _pendulum():
    env = make_jax_env("mbrlax/Pendulum-v0")
    return env, as_step_fn(env)


def test_gradient_matches_central_finite_differences_on_pendulum():
    _, step = _pendulum()
    with jax.enable_x64(True):
        state = PendulumState(jnp.array(2.0, jnp.float64), jnp.array(0.5, jnp.float64))
        actions = jax.random.uniform(
            jax.random.key(0), (10, 1), jnp.float64, minval=-1.5, maxval=1.5
        )
        keys = jax.random.split(jax.random.key(1), 10)

        def ret(a):
            return differentiable_return(step, state, a, keys, discount=0.95)

        grad = np.asarray(jax.grad(ret)(actions))
        assert grad.dtype == np.float64
        eps = 1e-6
        fd = np.zeros_like(grad)
        for i in range(actions.shape[0]):
            e = jnp.zeros_like(actions).at[i, 0].set(eps)
            fd[i, 0] = (ret(actions + e) - ret(actions - e)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.abs(grad).max() > 1e-2  # a real signal, not a vanishing one


def test_differentiable_return_agrees_with_sequence_return_on_termination_and_value():
    # Jackpot oracle: a > 0.5 pays 1 and terminates; after that every step would pay 10.
    def step(jackpot, a, key):
        del key
        jump = a[0] > 0.5
        reward = jnp.where(jackpot, 10.0, jnp.where(jump, 1.0, 0.5))
        return jackpot | jump, reward, ~jackpot & jump

    def value(jackpot):
        return jnp.where(jackpot, 100.0, 3.0)

    actions = jnp.array([[[0.0], [0.0], [0.0], [1.0]], [[1.0], [0.0], [0.0], [0.0]]])
    key = jax.random.key(0)
    expected = sequence_returns(step, jnp.array(False), actions, key, 0.9, value)
    keys = jax.random.split(key, 4)
    got = [differentiable_return(step, jnp.array(False), a, keys, 0.9, value) for a in actions]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got[1], 1.0)  # terminated: nothing further, no terminal value


@pytest.mark.parametrize("bounds", ["project", "squash"])
def test_finds_known_optimum_inside_the_bounds(bounds):
    config = GradientShooting(horizon=4, iterations=200, learning_rate=0.05, bounds=bounds)
    planner = config.build(LOW, HIGH)
    action, pstate, info = _jit_plan(planner)(
        planner.init(), step=_tracking(TARGET_IN), state=jnp.array(0), key=jax.random.key(0)
    )
    np.testing.assert_allclose(action, TARGET_IN[0], atol=1e-3)
    np.testing.assert_allclose(pstate.mean[:-1], TARGET_IN[1:4], atol=1e-3)
    np.testing.assert_array_equal(pstate.mean[-1], (LOW + HIGH) / 2)  # warm-start fill
    assert info["expected_return"] >= -1e-5
    assert info["expected_return"] >= info["initial_return"]


@pytest.mark.parametrize(("bounds", "atol"), [("project", 0.0), ("squash", 0.05)])
def test_targets_outside_the_bounds_give_actions_at_the_bound(bounds, atol):
    config = GradientShooting(horizon=4, bounds=bounds)
    planner = config.build(LOW, HIGH)
    plan = _jit_plan(planner)
    pstate = planner.init()
    corner = np.array([HIGH[0], LOW[1]])  # target (3, -2) is beyond the (high, low) corner
    for t, key in enumerate(jax.random.split(jax.random.key(0), 3)):
        action, pstate, _ = plan(pstate, step=_tracking(TARGET_OUT), state=jnp.array(t), key=key)
        assert np.all(action >= LOW) and np.all(action <= HIGH)
        assert np.all(pstate.mean >= LOW) and np.all(pstate.mean <= HIGH)
    # Squashed actions only approach a bound; warm starts carry them closer call by call.
    np.testing.assert_allclose(action, corner, atol=atol)


def test_improves_on_its_initial_sequence_for_the_pendulum():
    env, step = _pendulum()
    planner = GradientShooting(horizon=20).build(*env.spec.action_bounds())
    state = PendulumState(jnp.array(jnp.pi - 0.1), jnp.array(0.0))
    _, _, info = _jit_plan(planner)(planner.init(), step=step, state=state, key=jax.random.key(0))
    assert np.isfinite(info["grad_norm"]) and info["finite_fraction"] == 1.0
    # Zero torque from near hanging down is a poor plan: the optimiser must do much better.
    assert info["expected_return"] > info["initial_return"] + 5.0


# Closed-loop swing-up of the pendulum: with the other planners in test_planners.py.


def test_nan_returns_never_produce_nan_actions():
    # Best at 0.9 but NaN above 0.8: the best finite plan sits at the cliff.
    def cliff(t, a, key):
        del key
        return t + 1, jnp.where(a[0] > 0.8, jnp.nan, -((a[0] - 0.9) ** 2)), jnp.array(False)

    def always_nan(t, a, key):
        del key
        return t + 1, jnp.nan * a[0], jnp.array(False)

    planner = GradientShooting(horizon=3).build(np.array([-1.0]), np.array([1.0]))
    plan = _jit_plan(planner)
    action, pstate, info = plan(
        planner.init(), step=cliff, state=jnp.array(0), key=jax.random.key(0)
    )
    assert np.isfinite(action).all() and action[0] <= 0.8
    assert np.isfinite(pstate.mean).all() and np.isfinite(info["expected_return"])
    assert 0.0 < info["finite_fraction"] < 1.0

    warm = jnp.array([[0.3], [-0.2], [0.1]])
    action, pstate, info = plan(
        planner.init()._replace(mean=warm),
        step=always_nan,
        state=jnp.array(0),
        key=jax.random.key(0),
    )
    np.testing.assert_array_equal(action, warm[0])  # falls back to the warm start
    np.testing.assert_array_equal(pstate.mean, jnp.array([[-0.2], [0.1], [0.0]]))
    assert info["expected_return"] == -jnp.inf and info["finite_fraction"] == 0.0


def test_nan_gradient_with_finite_return_keeps_the_warm_start():
    # The classic `where` trap: sqrt's NaN derivative leaks through the unselected branch.
    def step(t, a, key):
        del key
        reward = jnp.where(a[0] > 2.0, jnp.sqrt(a[0] - 2.0), 0.0) - (a[0] - 0.5) ** 2
        return t + 1, reward, jnp.array(False)

    planner = GradientShooting(horizon=2, bounds="squash").build(np.array([-1.0]), np.array([1.0]))
    warm = jnp.array([[0.2], [-0.4]])
    action, _, info = _jit_plan(planner)(
        planner.init()._replace(mean=warm), step=step, state=jnp.array(0), key=jax.random.key(0)
    )
    np.testing.assert_array_equal(action, warm[0])
    assert info["expected_return"] == info["initial_return"] and np.isfinite(action).all()
    assert info["finite_fraction"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0}, "horizon"),
        ({"discount": 1.5}, "discount"),
        ({"iterations": 0}, "iterations"),
        ({"num_restarts": 0}, "num_restarts"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
        ({"bounds": "clip"}, "bounds"),
    ],
)
def test_bad_config_says_which_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientShooting(**kwargs)


def test_compiles_once_and_is_deterministic():
    planner = GradientShooting(horizon=3, iterations=5, num_restarts=3).build(LOW, HIGH)
    step = _tracking(TARGET_IN)
    traces = 0

    def plan(pstate, t, key):
        nonlocal traces
        traces += 1
        return planner.plan(pstate, step, t, key)

    plan = jax.jit(plan)
    pstate = planner.init()
    for t, key in enumerate(jax.random.split(jax.random.key(0), 3)):
        action, pstate, info = plan(pstate, jnp.array(t), key)
        assert action.shape == (2,) and action.dtype == jnp.float32
        assert set(info) >= {"expected_return", "initial_return", "grad_norm"}
        assert all(v.shape == () for v in info.values())
    assert traces == 1
    again = plan(pstate, jnp.array(0), jax.random.key(5))[0]
    np.testing.assert_array_equal(again, plan(pstate, jnp.array(0), jax.random.key(5))[0])
    assert traces == 1
