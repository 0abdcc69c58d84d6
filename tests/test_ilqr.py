"""ILQR and DDP against oracles: exact LQR in one iteration, DDP = iLQR at convergence,
monotone returns, bounds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import make_jax_env
from mbrlax.envs.base import as_step_fn
from mbrlax.envs.pendulum import PendulumState
from mbrlax.envs.point_mass import PointMass, PointMassState
from mbrlax.planners.ilqr import DDP, ILQR, ilqr_optimize
from mbrlax.planners.lqr import finite_horizon_lqr

X0 = np.array([0.7, -0.4, 0.2, 0.1])


def _lqr_closed_loop(env, x0, horizon):
    """LQR's actions ``[H, A]`` rolled out on the linear model, and its optimal return."""
    A, B, Q, R = env.linear_quadratic()
    K, P = (np.asarray(m) for m in finite_horizon_lqr(A, B, Q, R, horizon))
    x, actions = np.asarray(x0), []
    for t in range(horizon):
        u = -K[t] @ x
        actions.append(u)
        x = A @ x + B @ u
    return np.stack(actions), -(x0 @ P[0] @ x0)


def _point_mass_state(x0):
    return PointMassState(jnp.asarray(x0[:2]), jnp.asarray(x0[2:]))


def _pendulum():
    env = make_jax_env("mbrlax/Pendulum-v0")
    # float32, not weakly typed: the states env.step returns are not, so no retrace.
    start = PendulumState(jnp.array(np.pi, jnp.float32), jnp.array(0.0, jnp.float32))
    return env, as_step_fn(env), start


def test_converges_to_lqr_in_one_iteration_on_a_linear_quadratic_problem():
    horizon = 20
    with jax.enable_x64(True):
        env = PointMass(max_force=100.0)  # the bounds never bind
        expected, optimal_return = _lqr_closed_loop(env, X0, horizon)
        assert np.abs(expected).max() < 50
        cfg = ILQR(horizon=horizon, iterations=1, regularization_init=0.0)
        result = jax.jit(
            lambda state: ilqr_optimize(
                cfg,
                as_step_fn(env),
                state,
                jnp.zeros((horizon, 2)),
                jax.random.key(0),
                np.full(2, -100.0),
                np.full(2, 100.0),
            )
        )(_point_mass_state(X0))
        assert result.actions.dtype == jnp.float64
        np.testing.assert_allclose(result.actions, expected, atol=1e-4)
        np.testing.assert_allclose(result.returns[-1], optimal_return, rtol=1e-8)
        assert result.returns[0] < result.returns[-1]


def _solve(cfg, step, state, low, high):
    h = cfg.horizon
    zeros = jnp.zeros((h, low.size), state[0].dtype)
    return jax.jit(lambda s: ilqr_optimize(cfg, step, s, zeros, jax.random.key(0), low, high))(
        state
    )


def test_ddp_and_ilqr_agree_at_convergence_on_the_pendulum():
    env, step, _ = _pendulum()
    low, high = env.spec.action_bounds()
    with jax.enable_x64(True):
        start = PendulumState(jnp.array(2.5), jnp.array(0.0))
        ilqr = _solve(ILQR(horizon=30, iterations=60), step, start, low, high)
        ddp = _solve(DDP(horizon=30, iterations=60), step, start, low, high)
        # Both have stopped moving ...
        assert float(ilqr.returns[-1] - ilqr.returns[-10]) == 0.0
        assert float(ddp.returns[-1] - ddp.returns[-10]) == 0.0
        # ... at the same local optimum (the bounds bind on some steps, not on others).
        np.testing.assert_allclose(ddp.returns[-1], ilqr.returns[-1], rtol=1e-10)
        np.testing.assert_allclose(ddp.actions, ilqr.actions, atol=1e-6)
        free = np.abs(np.asarray(ilqr.actions)) < 2.0 - 1e-6
        assert 0 < free.sum() < free.size
        # The tensor terms are not zero on this problem: the first iterations differ.
        assert abs(float(ddp.returns[1] - ilqr.returns[1])) > 1e-3


def test_ddp_is_ilqr_on_a_linear_model():
    with jax.enable_x64(True):
        env = PointMass(max_force=100.0)
        low, high = np.full(2, -100.0), np.full(2, 100.0)
        state = _point_mass_state(X0)
        ilqr = _solve(ILQR(horizon=15, iterations=2), as_step_fn(env), state, low, high)
        ddp = _solve(DDP(horizon=15, iterations=2), as_step_fn(env), state, low, high)
        np.testing.assert_allclose(ddp.actions, ilqr.actions, atol=1e-10)
        np.testing.assert_allclose(ddp.returns, ilqr.returns, rtol=1e-12)


def test_each_iteration_does_not_decrease_the_return():
    env, step, start = _pendulum()
    low, high = env.spec.action_bounds()
    cfg = ILQR(horizon=30, iterations=15)
    result = jax.jit(
        lambda: ilqr_optimize(cfg, step, start, jnp.zeros((30, 1)), jax.random.key(0), low, high)
    )()
    returns = np.asarray(result.returns)
    assert np.all(np.isfinite(returns))
    assert np.all(np.diff(returns) >= 0), returns
    assert returns[-1] > returns[0] + 10  # a real improvement on a nonlinear problem
    assert np.all(result.actions >= low) and np.all(result.actions <= high)


def test_respects_binding_bounds():
    horizon = 20
    low, high = np.array([-0.3, -0.1]), np.array([0.2, 0.1])
    with jax.enable_x64(True):
        env = PointMass(max_force=1.0)
        step = as_step_fn(env)
        state = _point_mass_state(X0 * 2)
        lqr_actions, _ = _lqr_closed_loop(env, X0 * 2, horizon)
        assert np.any(lqr_actions < low) or np.any(lqr_actions > high)  # the bounds bind
        result = jax.jit(
            lambda state: ilqr_optimize(
                ILQR(horizon=horizon, iterations=10),
                step,
                state,
                jnp.zeros((horizon, 2)),
                jax.random.key(0),
                low,
                high,
            )
        )(state)
        actions = np.asarray(result.actions)
        assert np.all(actions >= low) and np.all(actions <= high)
        assert np.any(np.isclose(actions, low) | np.isclose(actions, high))
        # At least as good as the feasible clipped-LQR policy.
        A, B, Q, R = env.linear_quadratic()
        K = np.asarray(finite_horizon_lqr(A, B, Q, R, horizon)[0])
        x, clipped_return = X0 * 2, 0.0
        for t in range(horizon):
            u = np.clip(-K[t] @ x, low, high)
            clipped_return -= x @ Q @ x + u @ R @ u
            x = A @ x + B @ u
        assert result.returns[-1] >= clipped_return - 1e-9
        assert np.all(np.diff(np.asarray(result.returns)) >= 0)

    planner = ILQR(horizon=horizon, iterations=3).build(low, high)
    plan = jax.jit(lambda pstate, state, key: planner.plan(pstate, step, state, key))
    action, pstate, _ = plan(planner.init(), _point_mass_state(X0 * 2), jax.random.key(1))
    assert action.dtype == jnp.float32
    assert np.all(action >= low) and np.all(action <= high)
    assert np.all(pstate.mean >= low) and np.all(pstate.mean <= high)


# Closed-loop swing-up: with the other planners in test_planners.py.


@pytest.mark.parametrize("config", [ILQR, DDP])
def test_compiles_once_and_reports_info(config):
    env, step, start = _pendulum()
    planner = config(horizon=5, iterations=2).build(*env.spec.action_bounds())
    traces = 0

    def plan(pstate, state, key):
        nonlocal traces
        traces += 1
        return planner.plan(pstate, step, state, key)

    plan = jax.jit(plan)
    pstate, state = planner.init(), start
    for key in jax.random.split(jax.random.key(0), 3):
        action, pstate, info = plan(pstate, state, key)
        assert action.shape == (1,) and action.dtype == jnp.float32
        assert set(info) == {"expected_return", "initial_return", "regularization"}
        assert all(v.shape == () for v in info.values())
        assert info["expected_return"] >= info["initial_return"]
        state = env.step(state, action).state
    assert traces == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0}, "horizon"),
        ({"discount": 0.0}, "discount"),
        ({"iterations": 0}, "iterations"),
        ({"line_search_steps": 0}, "line_search_steps"),
        ({"regularization_init": -1.0}, "regularization_init"),
        ({"regularization_min": 0.0}, "regularization_min"),
        ({"regularization_max": 1e-9}, "regularization_max"),
        ({"regularization_factor": 1.0}, "regularization_factor"),
    ],
)
@pytest.mark.parametrize("config", [ILQR, DDP])
def test_bad_config_says_which_field(config, kwargs, match):
    with pytest.raises(ValueError, match=rf"{config.__name__}\.{match}"):
        config(**kwargs)


def test_bad_bounds_raise():
    with pytest.raises(ValueError, match="action_low < action_high"):
        ILQR().build(np.array([1.0]), np.array([-1.0]))


@pytest.mark.parametrize("dim", [1, 2, 3, 5, 9])  # 9: past the unrolled size, LAPACK
def test_small_cholesky_and_solve_match_numpy(dim):
    from mbrlax.planners.ilqr import _cho_solve, _cholesky

    rng = np.random.default_rng(dim)
    a = rng.normal(size=(dim, dim))
    m = a @ a.T + 0.1 * np.eye(dim)
    b = rng.normal(size=(dim,))
    B = rng.normal(size=(dim, 4))
    with jax.enable_x64(True):
        chol = np.asarray(jax.jit(_cholesky)(jnp.asarray(m)))
        np.testing.assert_allclose(chol, np.linalg.cholesky(m), atol=1e-10)
        np.testing.assert_allclose(
            _cho_solve(jnp.asarray(chol), b), np.linalg.solve(m, b), atol=1e-8
        )
        np.testing.assert_allclose(
            _cho_solve(jnp.asarray(chol), B), np.linalg.solve(m, B), atol=1e-8
        )
        # Not positive definite: NaN somewhere, which the backward pass rejects.
        indefinite = m - 2 * np.linalg.eigvalsh(m).max() * np.eye(dim)
        assert not np.all(np.isfinite(np.asarray(_cholesky(jnp.asarray(indefinite)))))


@pytest.mark.parametrize("config", [ILQR, DDP])
def test_tight_bounds_on_a_nonlinear_problem(config):
    """Torque +-0.5 cannot lift the pendulum: the optimum pumps at the bounds."""
    env, step, start = _pendulum()
    low, high = np.array([-0.5], np.float32), np.array([0.5], np.float32)
    result = _solve(config(horizon=30, iterations=15), step, start, low, high)
    actions, returns = np.asarray(result.actions), np.asarray(result.returns)
    assert np.all(actions >= low) and np.all(actions <= high)
    assert np.isclose(actions, low).sum() + np.isclose(actions, high).sum() >= 10
    assert np.all(np.diff(returns) >= 0) and returns[-1] > returns[0]
