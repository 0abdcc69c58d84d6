"""LQR against analytic oracles (DARE, Riccati value); `PointMass` against its own matrices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from mbrlax.envs import as_step_fn
from mbrlax.envs.point_mass import PointMass, PointMassState
from mbrlax.planners import CEM
from mbrlax.planners.lqr import LQR, finite_horizon_lqr


def random_system(seed: int, s: int = 4, a: int = 2):
    """A random ``(A, B, Q, R)``, float64: controllable almost surely, ``Q`` PSD, ``R`` PD."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(s, s)) / np.sqrt(s) * 1.2  # typically unstable: control matters
    B = rng.normal(size=(s, a))
    L = rng.normal(size=(s, s))
    Q = L @ L.T / s
    M = rng.normal(size=(a, a))
    R = M @ M.T / a + 0.1 * np.eye(a)
    return A, B, Q, R


def cost(A, B, Q, R, Qf, x0, actions):
    """``sum_t x_t^T Q x_t + u_t^T R u_t + x_H^T Qf x_H`` of an open-loop ``actions [H, A]``."""
    total, x = 0.0, x0
    for u in actions:
        total = total + x @ Q @ x + u @ R @ u
        x = A @ x + B @ u
    return total + x @ Qf @ x


def lqr_rollout(A, B, K, x0):
    """States ``[H + 1, S]`` and actions ``[H, A]`` of ``u_t = -K_t x_t`` from ``x0``."""
    xs, us = [x0], []
    for K_t in K:
        us.append(-K_t @ xs[-1])
        xs.append(A @ xs[-1] + B @ us[-1])
    return np.stack(xs), np.stack(us)


# ----------------------------------------------------------------------------- Riccati oracles


@pytest.mark.parametrize("system", ["random", "point_mass"])
def test_long_horizon_matches_infinite_horizon_dare(system):
    """For H = 500 the first gain and cost-to-go are the DARE's stationary solution."""
    if system == "random":
        A, B, Q, R = random_system(0)
    else:
        A, B, Q, R = PointMass(dim=2, damping=0.3).linear_quadratic()
    P_inf = scipy.linalg.solve_discrete_are(A, B, Q, R)
    K_inf = np.linalg.solve(R + B.T @ P_inf @ B, B.T @ P_inf @ A)
    with jax.enable_x64(True):
        K, P = finite_horizon_lqr(A, B, Q, R, horizon=500)
        assert K.dtype == jnp.float64 and P.dtype == jnp.float64
        K, P = np.asarray(K), np.asarray(P)
    assert K.shape == (500, B.shape[1], A.shape[0]) and P.shape == (501, *A.shape)
    np.testing.assert_allclose(K[0], K_inf, rtol=1e-4, atol=1e-8 * np.abs(K_inf).max())
    np.testing.assert_allclose(P[0], P_inf, rtol=1e-4, atol=1e-8 * np.abs(P_inf).max())
    np.testing.assert_array_equal(P[-1], np.zeros_like(Q))  # no terminal cost by default


def test_float32_by_default():
    A, B, Q, R = random_system(1)
    K, P = finite_horizon_lqr(A, B, Q, R, horizon=20)
    assert K.dtype == jnp.float32 and P.dtype == jnp.float32
    with jax.enable_x64(True):
        K64, P64 = finite_horizon_lqr(A, B, Q, R, horizon=20)
        K64, P64 = np.asarray(K64), np.asarray(P64)
    np.testing.assert_allclose(K, K64, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_riccati_value_is_the_cost_of_the_lqr_policy(seed):
    """``x0^T P_0 x0`` equals the cost of rolling out ``u_t = -K_t x_t`` on the true system."""
    A, B, Q, R = random_system(seed)
    Qf = 2.0 * Q + np.eye(4)
    x0 = np.random.default_rng(100 + seed).normal(size=4)
    with jax.enable_x64(True):
        K, P = (np.asarray(m) for m in finite_horizon_lqr(A, B, Q, R, horizon=15, Qf=Qf))
    _, actions = lqr_rollout(A, B, K, x0)
    np.testing.assert_allclose(x0 @ P[0] @ x0, cost(A, B, Q, R, Qf, x0, actions), rtol=1e-9)
    # ... and every tail too: the cost-to-go from step t.
    xs, _ = lqr_rollout(A, B, K, x0)
    t = 7
    tail = cost(A, B, Q, R, Qf, xs[t], actions[t:])
    np.testing.assert_allclose(xs[t] @ P[t] @ xs[t], tail, rtol=1e-9)


def test_no_action_sequence_beats_lqr():
    """Random perturbations of the LQR sequence cost more; the cost is stationary there."""
    A, B, Q, R = random_system(3)
    Qf = Q + np.eye(4)
    x0 = np.random.default_rng(7).normal(size=4)
    with jax.enable_x64(True):
        K, _ = (np.asarray(m) for m in finite_horizon_lqr(A, B, Q, R, horizon=10, Qf=Qf))
    _, actions = lqr_rollout(A, B, K, x0)
    best = cost(A, B, Q, R, Qf, x0, actions)
    rng = np.random.default_rng(8)
    for scale in (1e-3, 1e-1, 1.0):
        for _ in range(20):
            perturbed = actions + scale * rng.normal(size=actions.shape)
            assert cost(A, B, Q, R, Qf, x0, perturbed) > best
    # The cost is quadratic, so J(U + d) - J(U - d) = 2 grad J(U) . d exactly: zero at the optimum.
    for _ in range(5):
        d = rng.normal(size=actions.shape)
        rise = cost(A, B, Q, R, Qf, x0, actions + d) - best
        slope = cost(A, B, Q, R, Qf, x0, actions + d) - cost(A, B, Q, R, Qf, x0, actions - d)
        assert abs(slope) < 1e-9 * rise


# ----------------------------------------------------------------------------- PointMass


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_point_mass_matrices_are_the_exact_discretisation(damping):
    """``A, B`` are ``expm`` of the continuous-time system under zero-order hold."""
    env = PointMass(dim=3, dt=0.1, damping=damping)
    A, B, Q, R = env.linear_quadratic()
    n = env.dim
    Ac = np.block([[np.zeros((n, n)), np.eye(n)], [np.zeros((n, n)), -damping * np.eye(n)]])
    Bc = np.vstack([np.zeros((n, n)), np.eye(n)])
    M = np.zeros((3 * n, 3 * n))
    M[: 2 * n, : 2 * n], M[: 2 * n, 2 * n :] = Ac, Bc
    E = scipy.linalg.expm(M * env.dt)
    np.testing.assert_allclose(A, E[: 2 * n, : 2 * n], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B, E[: 2 * n, 2 * n :], rtol=1e-10, atol=1e-14)
    assert all(m.dtype == np.float64 for m in (A, B, Q, R))
    np.testing.assert_array_equal(np.diag(Q), [1.0] * n + [0.1] * n)
    np.testing.assert_array_equal(R, 0.01 * np.eye(n))


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_point_mass_step_is_the_linear_quadratic_system(damping):
    """``step`` gives ``A x + B clip(u)`` and reward ``-(x^T Q x + u^T R u)``, clip included."""
    env = PointMass(dim=2, damping=damping, max_force=1.0)
    A, B, Q, R = env.linear_quadratic()
    rng = np.random.default_rng(0)
    xs = rng.uniform(-2, 2, (50, 4)).astype(np.float32)
    us = rng.uniform(-2, 2, (50, 2)).astype(np.float32)  # half of them beyond the bounds
    step = jax.jit(jax.vmap(env.step))
    out = step(PointMassState(jnp.asarray(xs[:, :2]), jnp.asarray(xs[:, 2:])), jnp.asarray(us))
    clipped = np.clip(us.astype(np.float64), -1.0, 1.0)
    want_next = xs @ A.T + clipped @ B.T
    want_reward = -(
        np.einsum("ni,ij,nj->n", xs, Q, xs) + np.einsum("ni,ij,nj->n", clipped, R, clipped)
    )
    np.testing.assert_allclose(out.obs, want_next, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(out.state, axis=1), want_next, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.reward, want_reward, rtol=1e-6, atol=1e-6)
    assert not np.any(out.terminated)
    assert out.obs.dtype == jnp.float32 and out.reward.shape == (50,)


def test_point_mass_spec_reset_and_determinism():
    env = PointMass(dim=3, max_force=2.0)
    spec = env.spec
    assert spec.env_id == "mbrlax/PointMass-v0"
    assert spec.obs_shape == (6,) and spec.action_shape == (3,)
    assert spec.max_episode_steps == 100 and spec.is_continuous
    low, high = spec.action_bounds()
    np.testing.assert_array_equal(low, [-2.0] * 3)
    np.testing.assert_array_equal(high, [2.0] * 3)

    keys = jax.random.split(jax.random.key(0), 200)
    states, obs = jax.jit(jax.vmap(env.reset))(keys)
    assert obs.shape == (200, 6) and obs.dtype == jnp.float32
    assert np.all(np.abs(states.position) <= 1.0) and np.all(states.velocity == 0)
    assert np.abs(states.position).max() > 0.9  # actually spread over [-1, 1]
    np.testing.assert_array_equal(obs, np.concatenate(states, axis=1))
    s1, _ = env.reset(jax.random.key(3))
    s2, _ = env.reset(jax.random.key(3))
    np.testing.assert_array_equal(s1.position, s2.position)
    a = jnp.array([0.3, -5.0, 1.0])
    step = jax.jit(env.step)
    np.testing.assert_array_equal(step(s1, a).obs, step(s2, a).obs)


def test_point_mass_rejects_bad_parameters():
    with pytest.raises(ValueError, match="dim"):
        PointMass(dim=0)
    with pytest.raises(ValueError, match="dt"):
        PointMass(dt=0.0)
    with pytest.raises(ValueError, match="damping"):
        PointMass(damping=-1.0)


def test_point_mass_render_draws_the_point():
    env = PointMass(dim=2)
    frame = env.render_rgb(PointMassState(jnp.array([0.75, -0.75]), jnp.zeros(2)))
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    # World (0.75, -0.75) on a [-1.5, 1.5]^2 canvas: column 150, row 150.
    np.testing.assert_array_equal(frame[150, 150], [51, 102, 204])
    assert frame[100, 100].max() < 100  # the origin's cross (thinner than 2 pixels: blended)
    assert PointMass(dim=1).render_rgb(PointMassState(jnp.zeros(1), jnp.zeros(1))).shape[0] == 200


# ----------------------------------------------------------------------------- LQR planner


def closed_loop_returns(env: PointMass, planner, keys, num_steps: int = 100):
    """Jitted closed-loop episodes, one per key; returns ``(returns [N], final states)``."""
    step = as_step_fn(env)

    def episode(key):
        reset_key, plan_key = jax.random.split(key)
        state, _ = env.reset(reset_key)

        def body(carry, k):
            state, pstate, ret = carry
            action, pstate, _ = planner.plan(pstate, step, state, k)
            out = env.step(state, action)
            return (out.state, pstate, ret + out.reward), None

        init = (state, planner.init(), jnp.array(0.0))
        (state, _, ret), _ = jax.lax.scan(body, init, jax.random.split(plan_key, num_steps))
        return ret, state

    return jax.jit(jax.vmap(episode))(keys)


def test_lqr_planner_drives_point_mass_to_the_origin_and_beats_zero_actions():
    """Closed loop on PointMass, bounds binding at first: reaches the origin, beats zero force."""
    env = PointMass(dim=2)
    low, high = env.spec.action_bounds()
    lqr = LQR.from_matrices(*env.linear_quadratic(), horizon=50).build(low, high)
    keys = jax.random.split(jax.random.key(0), 8)
    returns, final = closed_loop_returns(env, lqr, keys)
    start = jax.vmap(lambda k: env.reset(jax.random.split(k)[0])[0])(keys)
    # Zero force: the point never moves, so each of the 100 steps costs |p0|^2.
    zero_returns = -100 * np.sum(np.asarray(start.position) ** 2, axis=1)
    assert np.abs(np.asarray(jax.vmap(env.observe)(final))).max() < 1e-3
    assert np.all(np.asarray(returns) > 0.2 * zero_returns)


@pytest.mark.slow
def test_lqr_planner_beats_short_horizon_cem_on_point_mass():
    """LQR (horizon 50) beats CEM (horizon 5, on the true env) on every seed; ~4% on seeds 0-7."""
    env = PointMass(dim=2)
    low, high = env.spec.action_bounds()
    lqr = LQR.from_matrices(*env.linear_quadratic(), horizon=50).build(low, high)
    cem = CEM(horizon=5, population=100, num_elites=10, iterations=3).build(low, high)
    keys = jax.random.split(jax.random.key(0), 4)
    lqr_returns, _ = closed_loop_returns(env, lqr, keys)
    cem_returns, _ = closed_loop_returns(env, cem, keys)
    assert np.all(lqr_returns > cem_returns), (lqr_returns, cem_returns)


def test_lqr_planner_action_is_clipped_first_gain_and_respects_bounds():
    env = PointMass(dim=2)
    low, high = env.spec.action_bounds()
    cfg = LQR.from_matrices(*env.linear_quadratic(), horizon=30)
    planner = cfg.build(low, high)
    K, _ = cfg.gains()
    pstate = planner.init()
    assert pstate.mean.shape == (30, 2)
    plan = jax.jit(planner.plan, static_argnames="step")
    step = as_step_fn(env)
    key = jax.random.key(0)
    # Near the origin the bounds do not bind: exactly -K_0 x.
    small = PointMassState(jnp.array([0.01, -0.02]), jnp.array([0.0, 0.01]))
    action, pstate, info = plan(pstate, step=step, state=small, key=key)
    np.testing.assert_allclose(action, -K[0] @ env.observe(small), rtol=1e-6)
    # The kept plan is shifted by one step, as every planner keeps it: next, -K_1 x_1.
    A, B, _, _ = env.linear_quadratic()
    x1 = A @ env.observe(small) + B @ action
    np.testing.assert_allclose(pstate.mean[0], -K[1] @ x1, rtol=1e-5, atol=1e-7)
    assert not info["clipped"]
    # Far from it they do, and the action stays inside the box.
    for far in ([5.0, -80.0], [-0.5, 0.3], [100.0, 100.0]):
        state = PointMassState(jnp.array(far), jnp.array([-3.0, 2.0]))
        bounded, _, info = plan(pstate, step=step, state=state, key=key)
        assert info["clipped"] and np.any(np.abs(bounded) == high)
        assert np.all(bounded >= low) and np.all(bounded <= high)
    # The array form of the state works the same as the pytree.
    same, _, _ = plan(pstate, step=step, state=env.observe(small), key=key)
    np.testing.assert_array_equal(same, action)


def test_lqr_expected_return_is_minus_the_riccati_value():
    env = PointMass(dim=1)
    A, B, Q, R = env.linear_quadratic()
    cfg = LQR.from_matrices(A, B, Q, R, horizon=40)
    planner = cfg.build(*env.spec.action_bounds())
    _, P = cfg.gains()
    x = jnp.array([0.05, 0.0])
    _, _, info = planner.plan(planner.init(), as_step_fn(env), x, jax.random.key(0))
    np.testing.assert_allclose(info["expected_return"], -(x @ P[0] @ x), rtol=1e-6)


def test_lqr_config_is_hashable_and_from_matrices_round_trips():
    A, B, Q, R = random_system(0)
    cfg = LQR.from_matrices(A, B, Q, R, horizon=10)
    assert hash(cfg) == hash(LQR.from_matrices(A, B, Q, R, horizon=10))
    np.testing.assert_array_equal(np.asarray(cfg.A), A)
    assert cfg.action_dim == 2


def test_lqr_rejects_bad_inputs():
    A, B, Q, R = random_system(0)  # S = 4, A = 2
    with pytest.raises(ValueError, match="horizon"):
        finite_horizon_lqr(A, B, Q, R, horizon=0)
    with pytest.raises(ValueError, match="horizon"):
        LQR.from_matrices(A, B, Q, R, horizon=-3)
    with pytest.raises(ValueError, match="A must be a square"):
        finite_horizon_lqr(A[:, :3], B, Q, R, horizon=5)
    with pytest.raises(ValueError, match="B must have shape"):
        finite_horizon_lqr(A, B[:3], Q, R, horizon=5)
    with pytest.raises(ValueError, match="Q must have shape"):
        LQR.from_matrices(A, B, Q[:2, :2], R)
    with pytest.raises(ValueError, match="R must have shape"):
        LQR.from_matrices(A, B, Q, np.eye(3))
    with pytest.raises(ValueError, match="Qf must have shape"):
        finite_horizon_lqr(A, B, Q, R, horizon=5, Qf=np.eye(2))
    with pytest.raises(ValueError, match="non-finite"):
        LQR.from_matrices(A * np.nan, B, Q, R)
    cfg = LQR.from_matrices(A, B, Q, R)
    with pytest.raises(ValueError, match="action entries"):
        cfg.build(-np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="terminal_value"):
        cfg.build(-np.ones(2), np.ones(2), terminal_value=lambda s: jnp.sum(s))
