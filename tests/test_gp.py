"""GaussianProcessModel: kernel and objectives against oracles, interpolation, the sparse bound,
learning a pendulum, masking, sampling and errors."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mbrlax.data.buffer import Transition
from mbrlax.models import gp
from mbrlax.models.gp import (
    GaussianProcessModel,
    GPConfig,
    GPHyperparameters,
    exact_neg_log_marginal_likelihood,
    se_ard_kernel,
    sgpr_neg_elbo,
)

# Compiling a fit (a few seconds on CPU) costs far more than running it on ~100 rows, so the
# tests share a few (config, capacity) pairs: FAST for fits that optimise, FROZEN (0 steps:
# the posterior of given hyperparameters, a cheap compile) for the rest.
FAST = GPConfig(fit_steps=120)
FROZEN = dataclasses.replace(FAST, fit_steps=0)
PENDULUM_ROWS = 120
PENDULUM_CAPACITY = 150
TEST_ROWS = 64  # one size for every held-out set, so predictions compile once per model


def _transitions(obs, action, next_obs) -> Transition:
    n = obs.shape[0]
    return Transition(obs, action, jnp.zeros(n, obs.dtype), next_obs, jnp.zeros(n, bool))


@functools.partial(jax.jit, static_argnums=1)
def _pendulum(key, n: int) -> Transition:
    """Damped pendulum, semi-implicit Euler with dt = 0.05: obs ``(theta, omega)``, torque."""
    k1, k2, k3 = jax.random.split(key, 3)
    theta = jax.random.uniform(k1, (n,), minval=-math.pi, maxval=math.pi)
    omega = jax.random.uniform(k2, (n,), minval=-3.0, maxval=3.0)
    u = jax.random.uniform(k3, (n, 1), minval=-2.0, maxval=2.0)
    omega_next = omega + 0.05 * (-9.81 * jnp.sin(theta) - 0.2 * omega + u[:, 0])
    theta_next = theta + 0.05 * omega_next
    obs = jnp.stack([theta, omega], -1)
    return _transitions(obs, u, jnp.stack([theta_next, omega_next], -1))


def _pad(data: Transition, rows: int, fill) -> Transition:
    """``data`` with ``rows`` extra rows of ``fill`` (garbage past the filled part)."""
    return jax.tree.map(
        lambda a: jnp.concatenate([a, jnp.full((rows,) + a.shape[1:], fill, a.dtype)]), data
    )


class _Prediction(NamedTuple):
    mean: jax.Array  # [N, d]
    var: jax.Array  # [N, d], noise included
    latent_var: jax.Array  # [N, d]


@functools.partial(jax.jit, static_argnums=0)
def _predict_all(model, params, data: Transition) -> _Prediction:
    """``model.predict`` of every row of ``data``, with and without the noise variance."""

    def one(obs, action):
        mean, var = model.predict(params, obs, action)
        return _Prediction(mean, var, model.predict(params, obs, action, include_noise=False)[1])

    return jax.vmap(one)(data.obs, data.action)


def _with_hypers(params, lengthscales, signal_std, noise_std):
    """``params`` with the given hyperparameters (standardised units), the same for every
    output: lengthscales ``[D]``, scalars otherwise."""
    t = params.hypers.log_signal_std.shape[0]
    dtype = params.hypers.log_signal_std.dtype
    hypers = GPHyperparameters(
        log_lengthscales=jnp.tile(jnp.log(jnp.asarray(lengthscales, dtype)), (t, 1)),
        log_signal_std=jnp.full((t,), math.log(signal_std), dtype),
        log_noise_std=jnp.full((t,), math.log(noise_std), dtype),
    )
    return dataclasses.replace(params, hypers=hypers)


@pytest.fixture(scope="module")
def pendulum():
    """(model, params, metrics, data) of an exact GP fitted to 120 pendulum transitions stored in
    a buffer of capacity 150 whose last 30 rows are nan."""
    model = GaussianProcessModel(FAST, obs_dim=2, action_dim=1)
    data = _pad(_pendulum(jax.random.key(0), PENDULUM_ROWS), 30, jnp.nan)
    params, metrics = model.fit(
        model.init(jax.random.key(1)), data, PENDULUM_ROWS, jax.random.key(2)
    )
    return model, params, metrics, data


def _np_se_kernel(x1, x2, lengthscales, signal_std):
    """Independent oracle: the SE-ARD kernel by explicit differences."""
    diff = (x1[:, None, :] - x2[None, :, :]) / lengthscales
    return signal_std**2 * np.exp(-0.5 * np.sum(diff**2, -1))


# ---- kernel and objectives ---------------------------------------------------------------------


def test_se_ard_kernel_matches_explicit_formula():
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    ls, s = np.array([0.5, 1.0, 3.0]), 1.7
    got = jax.jit(se_ard_kernel)(jnp.asarray(x1), jnp.asarray(x2), jnp.log(ls), jnp.log(s))
    np.testing.assert_allclose(got, _np_se_kernel(x1, x2, ls, s), rtol=1e-5, atol=1e-6)


def test_exact_nlml_matches_scipy_oracle_and_ignores_masked_rows():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    ls, s, noise, jitter = np.array([0.7, 1.3, 2.0]), 1.4, 0.3, 1e-6
    cov = _np_se_kernel(x, x, ls, s) + (noise**2 + jitter * s**2) * np.eye(12)
    oracle = -multivariate_normal(np.zeros(12), cov).logpdf(y)
    nlml = jax.jit(exact_neg_log_marginal_likelihood, static_argnames="jitter")
    with jax.enable_x64(True):
        hyp = (jnp.log(ls), jnp.log(s), jnp.log(noise))
        x, y = jnp.asarray(x), jnp.asarray(y)
        got = nlml(x, y, *hyp, mask=jnp.ones(12, bool), jitter=jitter)
        # Garbage rows (nan, inf, huge) behind a mask change nothing.
        xg = jnp.concatenate([x, jnp.full((4, 3), jnp.nan), jnp.full((3, 3), 1e6)])
        yg = jnp.concatenate([y, jnp.full((7,), jnp.inf)])
        masked = nlml(xg, yg, *hyp, mask=jnp.arange(19) < 12, jitter=jitter)
    np.testing.assert_allclose(float(got), oracle, rtol=1e-10)
    np.testing.assert_allclose(float(masked), oracle, rtol=1e-10)


def _assert_gradient_matches_central_differences(f, args, eps=1e-6):
    """``jax.grad`` of scalar ``f(*args)`` against central differences, entry by entry."""
    auto = jax.jit(jax.grad(f, argnums=tuple(range(len(args)))))(*args)
    f = jax.jit(f)
    for i, (a, g) in enumerate(zip(args, auto, strict=True)):
        fd = np.zeros(a.shape)
        for j in np.ndindex(a.shape):
            step = jnp.zeros(a.shape, a.dtype).at[j].set(eps)
            up = [b + step if k == i else b for k, b in enumerate(args)]
            down = [b - step if k == i else b for k, b in enumerate(args)]
            fd[j] = (float(f(*up)) - float(f(*down))) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-7)


def _gradient_problem(seed):
    rng = np.random.default_rng(seed)
    x, y = jnp.asarray(rng.normal(size=(10, 2))), jnp.asarray(rng.normal(size=10))
    hyp = (jnp.log(jnp.array([0.8, 1.5])), jnp.array(0.2), jnp.array(-1.0))
    return x, y, hyp, jnp.asarray(rng.normal(size=(4, 2)))


def test_exact_nlml_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        x, y, hyp, _ = _gradient_problem(2)
        mask = jnp.arange(10) < 8  # masked rows must get no say in the gradient either

        def f(lls, lss, lns):
            return exact_neg_log_marginal_likelihood(x, y, lls, lss, lns, mask)

        _assert_gradient_matches_central_differences(f, hyp)


def test_sgpr_bound_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        x, y, hyp, z = _gradient_problem(3)

        def f(lls, lss, lns, z):
            return sgpr_neg_elbo(x, y, z, lls, lss, lns)

        _assert_gradient_matches_central_differences(f, (*hyp, z))


def test_sgpr_bound_is_tight_at_training_inputs_and_an_upper_bound_elsewhere():
    rng = np.random.default_rng(3)
    bound = jax.jit(sgpr_neg_elbo, static_argnames="jitter")
    with jax.enable_x64(True):
        x, y = jnp.asarray(rng.uniform(-2, 2, size=(15, 2))), jnp.asarray(rng.normal(size=15))
        hyp = (jnp.log(jnp.array([0.6, 1.1])), jnp.array(0.1), jnp.log(0.2))
        exact = jax.jit(exact_neg_log_marginal_likelihood, static_argnames="jitter")(
            x, y, *hyp, jitter=0.0
        )
        all_in = jnp.ones(15, bool)
        tight = bound(x, y, x, *hyp, inducing_mask=all_in, jitter=1e-12)
        # Masking inducing inputs is the same as leaving them out.
        masked = bound(x, y, x, *hyp, inducing_mask=jnp.arange(15) < 5, jitter=1e-12)
        loose = bound(x, y, x[:5], *hyp, inducing_mask=all_in[:5], jitter=1e-12)
    np.testing.assert_allclose(float(tight), float(exact), rtol=1e-8)
    assert float(loose) > float(exact) + 1e-3
    np.testing.assert_allclose(float(masked), float(loose), rtol=1e-10)


# ---- the exact GP --------------------------------------------------------------------------------


def test_exact_gp_interpolates_noiseless_points_and_reverts_to_the_prior_far_away():
    model = GaussianProcessModel(FROZEN, obs_dim=1, action_dim=1)
    obs = jnp.linspace(-2.0, 2.0, 9)[:, None]
    data = _transitions(obs, jnp.zeros((9, 1)), obs + jnp.sin(2.0 * obs))
    # Standardised lengthscale 0.5 (~0.6 in obs units, the points' spacing is 0.5), noise at
    # the floor (1e-3 of the data std).
    prior = _with_hypers(model.init(jax.random.key(0)), [0.5, 1.0], 1.0, 1e-3)
    params, _ = model.fit(prior, data, 9, jax.random.key(1))
    # The 9 training points, then a ray leaving the data, in one batch.
    ray = jnp.linspace(2.0, 20.0, TEST_ROWS - 9)[:, None]
    x = jnp.concatenate([obs, ray])
    pred = _predict_all(model, params, _transitions(x, jnp.zeros_like(x), x))
    at_data, var_ray = pred.latent_var[:9], pred.latent_var[9:, 0]
    delta_std = float(jnp.std(jnp.sin(2.0 * obs)))
    np.testing.assert_allclose(pred.mean[:9], data.next_obs, atol=1e-3 * delta_std)
    prior_var = float(params.target_std[0] ** 2)  # signal std 1 in standardised units
    assert float(jnp.max(at_data)) < 1e-4 * prior_var
    # Along the ray the latent variance grows monotonically to the prior's.
    assert float(var_ray[0]) < 1e-4 * prior_var
    assert np.all(np.diff(np.asarray(var_ray)) >= -1e-6 * prior_var)
    np.testing.assert_allclose(var_ray[-1], prior_var, rtol=1e-5)
    # With the noise, its variance comes on top.
    noise_var = float(jnp.exp(2 * params.hypers.log_noise_std[0]) * prior_var)
    np.testing.assert_allclose(pred.var - pred.latent_var, noise_var, atol=1e-6 * prior_var)


def test_fit_learns_a_pendulum_and_predicts_held_out_transitions(pendulum):
    model, params, metrics, _ = pendulum
    test = _pendulum(jax.random.key(10), TEST_ROWS)
    pred = _predict_all(model, params, test)
    err, var = np.asarray(pred.mean - test.next_obs), np.asarray(pred.var)
    delta_std = np.std(np.asarray(test.next_obs - test.obs), 0)
    assert np.all(np.sqrt(np.mean(err**2, 0)) < 0.03 * delta_std), (err, delta_std)
    # Calibrated to within a factor of a few: mean squared z-score of order 1, not 100.
    assert np.all(np.mean(err**2 / var, 0) < 5.0)
    assert metrics["model_train_loss"] < metrics["model_initial_loss"] - 1.0
    assert int(metrics["model_nonfinite_steps"]) == 0
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_refit_warm_starts_from_the_fitted_hyperparameters(pendulum):
    model, params, _, data = pendulum
    frozen = GaussianProcessModel(FROZEN, 2, 1)
    again, metrics = frozen.fit(params, data, PENDULUM_ROWS, jax.random.key(3))
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert metrics["model_train_loss"] == metrics["model_initial_loss"]


def test_rows_past_size_do_not_change_the_fit(pendulum):
    model, params, metrics, data = pendulum
    # Same capacity, other garbage (the fixture's is nan): masked before any arithmetic, so
    # the fit is the same bit for bit.
    big = _pad(jax.tree.map(lambda a: a[:PENDULUM_ROWS], data), 30, 1e6)
    init = model.init(jax.random.key(1))
    big_fit, _ = model.fit(init, big, PENDULUM_ROWS, jax.random.key(2))
    for a, b in zip(jax.tree.leaves(big_fit), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    # No garbage rows at all (another capacity): the same objective and posterior up to rounding.
    frozen = GaussianProcessModel(FROZEN, 2, 1)
    exact_rows = jax.tree.map(lambda a: a[:PENDULUM_ROWS], data)
    trimmed, trimmed_metrics = frozen.fit(params, exact_rows, PENDULUM_ROWS, jax.random.key(2))
    np.testing.assert_allclose(
        trimmed_metrics["model_train_loss"], metrics["model_train_loss"], rtol=1e-3, atol=1e-4
    )
    test = _pendulum(jax.random.key(12), TEST_ROWS)
    pred, ref = _predict_all(model, trimmed, test), _predict_all(model, params, test)
    np.testing.assert_allclose(pred.mean, ref.mean, atol=1e-4 * float(jnp.std(test.next_obs)))
    # float32 variances near the data are differences of nearly equal numbers: compare them on
    # the scale of the prior variance.
    scale = float(jnp.max(params.target_std**2))
    np.testing.assert_allclose(pred.var, ref.var, atol=1e-5 * scale)


def test_fit_compiles_once_per_capacity_and_init_capacity_matches_fitted_shapes(pendulum):
    model, params, _, data = pendulum
    before = gp._fit_jit._cache_size()
    fitted, _ = model.fit(params, data, 60, jax.random.key(4))
    assert gp._fit_jit._cache_size() == before  # the fixture compiled it for this capacity
    prior = model.init(jax.random.key(0), capacity=PENDULUM_CAPACITY)
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), prior)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), fitted) == shapes


@pytest.mark.parametrize("capacity", [None, 7])
def test_prior_predicts_no_change_with_the_prior_variance(capacity):
    model = GaussianProcessModel(GPConfig(init_signal_std=2.0, init_noise_std=0.5), 3, 2)
    params = model.init(jax.random.key(0), capacity=capacity)
    obs = jnp.array([[1.0, -2.0, 0.5]])
    pred = _predict_all(model, params, _transitions(obs, jnp.array([[0.3, 0.1]]), obs))
    np.testing.assert_allclose(pred.mean, obs)
    np.testing.assert_allclose(pred.var, jnp.full((1, 3), 4.0 + 0.25), rtol=1e-6)
    np.testing.assert_allclose(pred.latent_var, jnp.full((1, 3), 4.0), rtol=1e-6)


# ---- the sparse GP -------------------------------------------------------------------------------


def test_sparse_gp_with_every_row_inducing_predicts_as_the_exact_gp():
    n = TEST_ROWS
    with jax.enable_x64(True):
        data = _pendulum(jax.random.key(4), n)  # float64 under x64
        exact = GaussianProcessModel(dataclasses.replace(FROZEN, jitter=1e-10), 2, 1)
        sparse = GaussianProcessModel(dataclasses.replace(exact.config, num_inducing=n), 2, 1)
        key = jax.random.key(5)
        p_exact, m_exact = exact.fit(exact.init(key), data, n, key)
        p_sparse, m_sparse = sparse.fit(sparse.init(key), data, n, key)
        test = _pendulum(jax.random.key(6), n)
        pred_e, pred_s = _predict_all(exact, p_exact, test), _predict_all(sparse, p_sparse, test)
    assert pred_s.mean.dtype == jnp.float64 and p_sparse.posterior.chol.dtype == jnp.float64
    np.testing.assert_allclose(m_sparse["model_train_loss"], m_exact["model_train_loss"], rtol=1e-7)
    np.testing.assert_allclose(pred_s.mean, pred_e.mean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(pred_s.latent_var, pred_e.latent_var, rtol=1e-4, atol=1e-9)


@functools.partial(jax.jit, static_argnums=0)
def _smooth_data(n: int) -> Transition:
    """``next_obs - obs = sin(2 obs) + N(0, 0.05^2)``, obs in [-3, 3], a constant action."""
    k1, k2 = jax.random.split(jax.random.key(7))
    obs = jax.random.uniform(k1, (n, 1), minval=-3.0, maxval=3.0)
    delta = jnp.sin(2.0 * obs) + 0.05 * jax.random.normal(k2, (n, 1))
    return _transitions(obs, jnp.zeros((n, 1)), obs + delta)


def _smooth_rmse(model, params) -> float:
    grid = jnp.linspace(-2.8, 2.8, TEST_ROWS)[:, None]
    mean = _predict_all(model, params, _transitions(grid, jnp.zeros_like(grid), grid)).mean
    return float(jnp.sqrt(jnp.mean(jnp.square(mean - grid - jnp.sin(2.0 * grid)))))


def test_sparse_gp_with_few_inducing_points_matches_a_smooth_function():
    n, m = 2000, 40
    model = GaussianProcessModel(dataclasses.replace(FROZEN, num_inducing=m), 1, 1)
    prior = _with_hypers(model.init(jax.random.key(0)), [0.4, 1.0], 1.0, 0.07)
    params, _ = model.fit(prior, _smooth_data(n), n, jax.random.key(9))
    rmse = _smooth_rmse(model, params)
    assert rmse < 0.02, rmse


@pytest.mark.slow
def test_sparse_gp_learns_hyperparameters_and_inducing_inputs_of_a_smooth_function():
    n, m = 2000, 20
    model = GaussianProcessModel(GPConfig(num_inducing=m, fit_steps=100), 1, 1)
    init = model.init(jax.random.key(8))
    params, metrics = model.fit(init, _smooth_data(n), n, jax.random.key(9))
    rmse = _smooth_rmse(model, params)
    assert rmse < 0.02, rmse
    noise = float(jnp.exp(params.hypers.log_noise_std[0]) * params.target_std[0])
    assert 0.04 < noise < 0.06, noise  # the true 0.05, in data units
    assert int(metrics["model_nonfinite_steps"]) == 0


# ---- step ----------------------------------------------------------------------------------------


def _reward(obs, action, next_obs):
    return -jnp.sum(next_obs**2) - 0.1 * jnp.sum(action**2)


def test_step_samples_the_predictive_distribution(pendulum):
    model, params, _, _ = pendulum
    obs, action = jnp.array([0.4, -1.0]), jnp.array([0.5])
    mean, var = jax.jit(model.predict)(params, obs, action)

    @jax.jit
    def sample(params, keys):
        return jax.vmap(lambda k: model.step(params, obs, action, k, _reward))(keys)

    keys = jax.random.split(jax.random.key(0), 20000)
    nxt, reward, done = sample(params, keys)
    se = jnp.sqrt(var / keys.shape[0])
    assert np.all(np.abs(np.asarray(nxt.mean(0) - mean)) < 4 * np.asarray(se))
    np.testing.assert_allclose(nxt.var(0), var, rtol=0.05)
    expected_reward = -jnp.sum(nxt**2, -1) - 0.1 * 0.5**2
    np.testing.assert_allclose(reward, expected_reward, rtol=1e-5)
    assert not bool(jnp.any(done))  # no termination_fn: never terminates
    # Same key, same sample; another key, another one.
    again, _, _ = sample(params, keys)
    np.testing.assert_array_equal(again, nxt)
    assert not np.allclose(nxt[0], nxt[1])


def test_expected_step_is_the_predictive_mean_and_termination_applies(pendulum):
    model, params, _, _ = pendulum
    obs = jnp.array([[0.02, -1.0], [-0.02, 1.0]])  # crosses to theta < 0; to theta > 0
    action = jnp.array([0.5, 0.5])  # scalar actions are accepted when action_dim = 1

    def fell(o, a, n):
        return n[0] < 0.0

    @jax.jit
    def expected(params, obs, action):
        step = functools.partial(model.expected_step, reward_fn=_reward, termination_fn=fell)
        return jax.vmap(step, (None, 0, 0))(params, obs, action)

    nxt, reward, done = expected(params, obs, action)
    mean = _predict_all(model, params, _transitions(obs, action[:, None], obs)).mean
    np.testing.assert_allclose(nxt, mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(reward, -jnp.sum(nxt**2, -1) - 0.1 * 0.5**2, rtol=1e-5)
    np.testing.assert_array_equal(done, [True, False])
    assert done.dtype == jnp.bool_ and reward.shape == (2,) and nxt.shape == (2, 2)


# ---- errors --------------------------------------------------------------------------------------


def test_errors_say_what_is_wrong(pendulum):
    model, params, _, data = pendulum
    obs, action, key = jnp.zeros(2), jnp.zeros(1), jax.random.key(0)
    with pytest.raises(ValueError, match="reward_fn"):
        model.step(params, obs, action, key)
    with pytest.raises(ValueError, match="reward_fn"):
        model.expected_step(params, obs, action)
    with pytest.raises(ValueError, match=r"obs \[2\] and action \[1\].*vmap"):
        model.predict(params, jnp.zeros((4, 2)), jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"action \[1\]"):
        model.predict(params, obs, jnp.zeros(3))
    with pytest.raises(ValueError, match="size"):
        model.fit(params, data, 0, key)
    with pytest.raises(ValueError, match="size"):
        model.fit(params, data, PENDULUM_CAPACITY + 1, key)
    with pytest.raises(ValueError, match=r"data.action has shape \[120, 2\]"):
        model.fit(params, data._replace(action=jnp.zeros((PENDULUM_ROWS, 2))), 10, key)
    with pytest.raises(ValueError, match="obs_dim and action_dim"):
        GaussianProcessModel(GPConfig(), 0, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inducing": -1}, "num_inducing"),
        ({"fit_steps": -5}, "fit_steps"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"min_noise_std": 0.0}, "min_noise_std"),
        ({"jitter": -1e-6}, "jitter"),
        ({"lengthscale_range": (1.0, 0.1)}, "lengthscale_range"),
        ({"init_lengthscale": 1e3}, "init_lengthscale"),
        ({"signal_std_range": (0.0, 1.0)}, "signal_std_range"),
        ({"init_noise_std": 1e-4, "min_noise_std": 1e-3}, "init_noise_std"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPConfig(**kwargs)
