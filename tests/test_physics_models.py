"""Physics models with system identification, and physics plus a learned residual.

Oracles: data simulated by the envs themselves (the fit must recover the constants that made
them), the envs' own step (the model with the true constants must reproduce it), and the
sampling spread of least-squares estimates (the reported standard errors must match it).
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.data.buffer import Transition
from mbrlax.envs.bicycle import Bicycle
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.envs.tasks import pendulum_reward
from mbrlax.models.ensemble import EnsembleConfig, ProbabilisticEnsemble
from mbrlax.models.physics import BicyclePhysics, PendulumPhysics, PhysicsParams, _fit_jit
from mbrlax.models.semiparametric import SemiParametricModel, SemiParametricParams

# The compile is the cost of every fit here: the tests share capacities (size is traced) and
# models that differ only in initial guesses share one compilation.
CAPACITY = 256
PENDULUM_TRUE = {"m": 1.2, "length": 0.8, "damping": 0.05}
PENDULUM = Pendulum(**PENDULUM_TRUE)  # the damped pendulum the pendulum fits identify
TINY = EnsembleConfig(
    num_members=1,
    num_elites=1,
    hidden_sizes=(32,),
    probabilistic=False,
    batch_size=64,
    max_epochs=60,
    patience=10,
    learning_rate=3e-3,
    weight_decay=0.0,
)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _pendulum_data(env: Pendulum, n: int, key, noise: float = 0.0) -> Transition:
    """``n`` transitions from uniform states (``|th_dot| <= 6``, below the speed clip) under
    uniform torques; Gaussian noise of std ``noise`` on every entry of next_obs."""
    k_th, k_thdot, k_u, k_noise = jax.random.split(key, 4)
    state = PendulumState(
        jax.random.uniform(k_th, (n,), minval=-jnp.pi, maxval=jnp.pi),
        jax.random.uniform(k_thdot, (n,), minval=-6.0, maxval=6.0),
    )
    action = jax.random.uniform(k_u, (n, 1), minval=-2.0, maxval=2.0)
    out = jax.vmap(env.step)(state, action)
    next_obs = out.obs + noise * jax.random.normal(k_noise, out.obs.shape)
    return Transition(jax.vmap(env.observe)(state), action, out.reward, next_obs, out.terminated)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _bicycle_data(env: Bicycle, n: int, key) -> Transition:
    """``n`` transitions from the env's reset poses with uniform steering angles, under
    uniform actions within the bounds."""
    k_reset, k_delta, k_action = jax.random.split(key, 3)
    state, _ = jax.vmap(env.reset)(jax.random.split(k_reset, n))
    state = state._replace(
        delta=jax.random.uniform(k_delta, (n,), minval=-env.max_steer, maxval=env.max_steer)
    )
    low, high = env.spec.action_bounds()
    action = jax.random.uniform(k_action, (n, 2), minval=low, maxval=high)
    out = jax.vmap(env.step)(state, action)
    return Transition(jax.vmap(env.observe)(state), action, out.reward, out.obs, out.terminated)


def _fill_past(size: int, value: float):
    """Overwrite rows ``[size, C)`` of an array with ``value`` (True for bool arrays)."""

    def fill(x):
        return x.at[size:].set(jnp.asarray(value if x.dtype != bool else True, x.dtype))

    return fill


def _relative_error(model, params, true: dict[str, float]) -> dict[str, float]:
    named = model.named(params)
    return {k: abs(named[k] - v) / abs(v) for k, v in true.items()}


# ---- the envs' physics as pure functions ------------------------------------------------------


def test_damped_pendulum_env_follows_the_damped_equation():
    rng = np.random.default_rng(0)
    th, thdot = rng.uniform(-3, 3, 50), rng.uniform(-6, 6, 50)
    u = rng.uniform(-2, 2, 50)
    env = Pendulum(m=1.3, length=0.7, damping=0.2)
    state = PendulumState(jnp.asarray(th, jnp.float32), jnp.asarray(thdot, jnp.float32))
    out = jax.vmap(env.step)(state, jnp.asarray(u[:, None], jnp.float32))
    accel = 3 * 10.0 / (2 * 0.7) * np.sin(th) + 3 / (1.3 * 0.7**2) * (u - 0.2 * thdot)
    want_thdot = np.clip(thdot + 0.05 * accel, -8, 8)
    np.testing.assert_allclose(out.state.theta_dot, want_thdot, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.state.theta, th + 0.05 * want_thdot, rtol=1e-5, atol=1e-5)
    # The damping torque is what separates it from the undamped pendulum.
    undamped = jax.vmap(Pendulum(m=1.3, length=0.7).step)(state, out.state.theta_dot[:, None] * 0)
    assert not np.allclose(out.state.theta_dot, undamped.state.theta_dot, atol=1e-3)


def _random_inputs(model, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``n`` observations of random states and actions up to 1.5x the bounds (some clip)."""
    rng = np.random.default_rng(0)
    if isinstance(model, PendulumPhysics):
        th = rng.uniform(-np.pi, np.pi, n)
        obs = np.stack([np.cos(th), np.sin(th), rng.uniform(-8, 8, n)], 1)
        action = rng.uniform(-3, 3, (n, 1))
    else:  # the offset (last entry) is not an input of the dynamics
        psi = rng.uniform(-np.pi, np.pi, n)
        xy = rng.uniform([-7, -4], [7, 4], (n, 2))
        obs = np.column_stack([xy, np.cos(psi), np.sin(psi), rng.uniform(-0.7, 0.7, n), 0 * psi])
        action = rng.uniform([-1.5, -2.25], [4.5, 2.25], (n, 2))
    return obs.astype(np.float32), action.astype(np.float32)


@pytest.mark.parametrize(
    "env, model",
    [(Pendulum(), PendulumPhysics()), (Bicycle(), BicyclePhysics())],
    ids=["pendulum", "bicycle"],
)
def test_physics_with_the_env_constants_is_the_env_step(env, model):
    """Same functions, same constants: with the constants static (Python floats, as the env
    holds them) the compiled model is the env's step bit for bit; with them fitted (traced
    arrays) XLA may fuse the program differently, to the last bit."""
    static = dataclasses.replace(model, fitted=())

    @jax.jit
    @jax.vmap
    def next_obs(obs, action):
        env_next = env.step(env.state_from_obs(obs), action).obs
        fitted = model.predict(model.init(None), obs, action)[0]
        return env_next, static.predict(static.init(None), obs, action)[0], fitted

    env_next, static_next, fitted_next = next_obs(*_random_inputs(model))
    np.testing.assert_array_equal(static_next, env_next)
    np.testing.assert_allclose(fitted_next, env_next, atol=1e-6)


# ---- system identification ----------------------------------------------------------------------


def test_pendulum_sysid_recovers_mass_length_and_damping_exactly():
    true = PENDULUM_TRUE
    data = _pendulum_data(PENDULUM, CAPACITY, jax.random.key(1))
    model = PendulumPhysics(m=1.2 * 1.3, length=0.8 * 0.7, damping=0.05 * 1.3)  # +-30%
    params, metrics = model.fit(model.init(jax.random.key(0)), data, CAPACITY, jax.random.key(2))
    assert max(_relative_error(model, params, true).values()) < 1e-5
    assert float(metrics["sysid_initial_loss"]) > 1e-3 > 1e-12 > float(metrics["model_train_loss"])
    assert max(model.standard_errors(params).values()) < 1e-5  # nothing left unexplained
    assert model.named(params)["g"] == 10.0  # fixed


def test_bicycle_sysid_recovers_wheelbase_and_rear_to_cm_exactly():
    true = {"wheelbase": 1.2, "rear_to_cm": 0.4}
    data = _bicycle_data(Bicycle(**true), CAPACITY, jax.random.key(3))
    model = BicyclePhysics(wheelbase=1.2 * 0.7, rear_to_cm=0.4 * 1.3)
    params, metrics = model.fit(model.init(jax.random.key(0)), data, CAPACITY, jax.random.key(4))
    assert max(_relative_error(model, params, true).values()) < 1e-5
    assert float(metrics["model_train_loss"]) < 1e-12 < float(metrics["sysid_initial_loss"])


def test_rows_past_size_do_not_change_the_fit():
    data = _pendulum_data(PENDULUM, CAPACITY, jax.random.key(5), noise=0.01)
    size = 150
    garbage = jax.tree.map(_fill_past(size, jnp.nan), data)
    zeros = jax.tree.map(_fill_past(size, 0.0), data)
    model = PendulumPhysics()
    params0 = model.init(jax.random.key(0))
    fit_garbage, _ = model.fit(params0, garbage, size, jax.random.key(0))
    fit, metrics = model.fit(params0, zeros, jnp.asarray(size), jax.random.key(0))
    jax.tree.map(np.testing.assert_array_equal, fit_garbage, fit)
    assert np.all(np.isfinite(np.asarray(fit.cov))) and int(fit.num_rows) == size
    # The statistics count the first `size` rows only.
    pred = jax.jit(jax.vmap(lambda o, a: model.predict(fit, o, a)[0]))(data.obs, data.action)
    sq = np.square(np.asarray(pred - data.next_obs, np.float64))[:size]
    np.testing.assert_allclose(fit.noise_var, sq.sum(0) / (size - 3 / 3), rtol=1e-3)
    np.testing.assert_allclose(metrics["model_train_loss"], sq.mean(), rtol=1e-3)
    # The noisy fit is close but not exact, and it moved from the initial guess.
    assert 1e-5 < max(_relative_error(model, fit, PENDULUM_TRUE).values()) < 0.1


def test_standard_errors_match_the_spread_over_noisy_datasets_and_shrink_with_data():
    """32 datasets with noise of std 0.01 on next_obs: the reported standard errors are the
    spread of the estimates; 4x the rows halve them; the noise variance is recovered."""
    model, noise, sets, small = PendulumPhysics(m=1.5, length=0.6, damping=0.0), 0.01, 32, 64
    params0 = model.init(None)
    fits = {small: [], CAPACITY: []}
    for key in jax.random.split(jax.random.key(6), sets):
        data = _pendulum_data(PENDULUM, CAPACITY, key, noise)
        for size, out in fits.items():
            out.append(model.fit(params0, data, size, None)[0])  # one compile: size is traced
    values = {n: np.stack([np.asarray(p.values) for p in f]) for n, f in fits.items()}
    se = {n: np.stack([np.sqrt(np.diag(np.asarray(p.cov))) for p in f]) for n, f in fits.items()}
    ratio = np.std(values[CAPACITY], axis=0, ddof=1) / se[CAPACITY].mean(0)
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    shrink = se[CAPACITY].mean(0) / se[small].mean(0)
    assert np.all((shrink > 0.4) & (shrink < 0.6)), shrink  # 1 / sqrt(4)
    noise_var = np.mean([np.asarray(p.noise_var) for p in fits[CAPACITY]], axis=0)
    np.testing.assert_allclose(noise_var, noise**2, rtol=0.1)
    # The estimates are unbiased to within their spread.
    bias = values[CAPACITY].mean(0) - np.array(list(PENDULUM_TRUE.values()))
    assert np.all(np.abs(bias) < 3 * se[CAPACITY].mean(0) / np.sqrt(sets)), bias


def test_models_differing_only_in_initial_guesses_compile_once(monkeypatch):
    data = _pendulum_data(PENDULUM, CAPACITY, jax.random.key(7))
    PendulumPhysics().fit(PendulumPhysics().init(None), data, 10, None)  # compiled
    traces = []
    residuals = PendulumPhysics._residuals
    monkeypatch.setattr(PendulumPhysics, "_residuals", lambda *a: traces.append(1) or residuals(*a))
    for m, size in ((1.5, 20), (0.7, CAPACITY)):
        model = PendulumPhysics(m=m, length=1.2)
        jax.block_until_ready(model.fit(model.init(None), data, size, None))
    assert traces == []
    # A fixed constant is part of the program (traced only, not compiled: `lower`).
    _fit_jit.lower(PendulumPhysics(g=9.81), PendulumPhysics().init(None), data, jnp.int32(10))
    assert traces


def test_step_is_the_deterministic_mean_with_known_task_functions():
    model = PendulumPhysics(damping=0.1)
    params = model.init(jax.random.key(0))
    obs, action = jnp.array([0.0, 1.0, 2.0]), jnp.array([0.5])
    nxt, reward, done = model.step(params, obs, action, jax.random.key(1), pendulum_reward)
    nxt2, reward2, done2 = model.step(params, obs, action, jax.random.key(2), pendulum_reward)
    mean, var = model.predict(params, obs, action)
    np.testing.assert_array_equal(nxt, nxt2)
    np.testing.assert_array_equal(nxt, mean)
    np.testing.assert_array_equal(var, np.zeros(3))  # not fitted yet
    assert float(reward) == float(pendulum_reward(obs, action, nxt)) and not bool(done)
    _, _, done = model.expected_step(
        params, obs, action, pendulum_reward, lambda o, a, n: n[2] < 10.0
    )
    assert bool(done)
    assert np.isnan(model.standard_errors(params)["m"])  # never fitted


def test_errors_say_what_is_wrong():
    model = PendulumPhysics()
    params = model.init(None)
    data = jax.tree.map(lambda x: x[:8], _pendulum_data(PENDULUM, CAPACITY, jax.random.key(7)))
    with pytest.raises(ValueError, match="reward_fn"):
        model.step(params, jnp.zeros(3), jnp.zeros(1), jax.random.key(0))
    with pytest.raises(ValueError, match=r"obs \[3\] and action \[1\]"):
        model.predict(params, jnp.zeros(4), jnp.zeros(1))
    with pytest.raises(ValueError, match="size <= capacity"):
        model.fit(params, data, 0, None)
    with pytest.raises(ValueError, match="size <= capacity"):
        model.fit(params, data, 9, None)
    with pytest.raises(ValueError, match=r"data.action has shape \[8, 2\]"):
        model.fit(params, data._replace(action=jnp.zeros((8, 2))), 8, None)
    with pytest.raises(TypeError, match="Transition"):
        model.fit(params, tuple(data), 8, None)
    with pytest.raises(ValueError, match="more residuals"):
        model.fit(params, data, 1, None)
    with pytest.raises(ValueError, match="fitted must be distinct names"):
        PendulumPhysics(fitted=("mass",))
    with pytest.raises(ValueError, match="m must be a positive number"):
        PendulumPhysics(m=-1.0)
    residual = ProbabilisticEnsemble(TINY, obs_dim=3, action_dim=1)
    with pytest.raises(ValueError, match="must agree"):
        SemiParametricModel(BicyclePhysics(), residual)
    with pytest.raises(ValueError, match="learn_reward=False"):
        SemiParametricModel(
            model, ProbabilisticEnsemble(dataclasses.replace(TINY, learn_reward=True), 3, 1)
        )
    semi = SemiParametricModel(model, residual)
    semi_params = None  # the checks come first
    with pytest.raises(ValueError, match="reward_fn"):
        semi.expected_step(semi_params, jnp.zeros(3), jnp.zeros(1))
    with pytest.raises(ValueError, match="size <= capacity"):
        semi.fit(semi_params, data, 0, jax.random.key(0))


# ---- physics plus residual -----------------------------------------------------------------------


def _zero_residual(params: SemiParametricParams) -> SemiParametricParams:
    """The residual ensemble's last layer zeroed: with identity output statistics (a fresh
    ensemble's) it predicts a residual of exactly 0."""
    net = params.residual.net
    return eqx.tree_at(
        lambda p: (p.residual.net.weights[-1], p.residual.net.biases[-1]),
        params,
        (jnp.zeros_like(net.weights[-1]), jnp.zeros_like(net.biases[-1])),
    )


def test_semiparametric_with_a_zero_residual_is_the_physics():
    physics = PendulumPhysics(m=1.1, damping=0.1)
    semi = SemiParametricModel(physics, ProbabilisticEnsemble(TINY, obs_dim=3, action_dim=1))
    fresh = semi.init(jax.random.key(0))
    params = _zero_residual(fresh)
    data = jax.tree.map(lambda x: x[:64], _pendulum_data(PENDULUM, CAPACITY, jax.random.key(7)))

    def both(obs, action, key):
        return (
            physics.expected_step(params.physics, obs, action, pendulum_reward),
            semi.expected_step(params, obs, action, pendulum_reward),
            semi.step(params, obs, action, key, pendulum_reward),
            semi.predict(params, obs, action),
        )

    keys = jax.random.split(jax.random.key(2), 64)
    want, mean_step, sampled, (mean, var) = jax.jit(jax.vmap(both))(data.obs, data.action, keys)
    for got in (mean_step, sampled):
        jax.tree.map(np.testing.assert_array_equal, got, want)
    np.testing.assert_array_equal(mean, want[0])
    np.testing.assert_array_equal(var, np.zeros_like(var))  # a deterministic member: no spread
    # A non-zero residual does move it.
    moved, _ = semi.predict(fresh, data.obs[0], data.action[0])
    assert not np.allclose(moved, want[0][0], atol=1e-4)


@pytest.fixture(scope="module")
def damped_fit():
    """Physics without damping (m and length fitted) plus a tiny residual ensemble, fitted to
    a damped pendulum (damping 0.2)."""
    env = Pendulum(damping=0.2)
    data = _pendulum_data(env, CAPACITY, jax.random.key(10))
    semi = SemiParametricModel(
        PendulumPhysics(fitted=("m", "length")), ProbabilisticEnsemble(TINY, 3, 1)
    )
    params0 = semi.init(jax.random.key(11))
    params, metrics = semi.fit(params0, data, CAPACITY, jax.random.key(12))
    return env, semi, data, params0, params, metrics


def test_residual_learns_what_the_physics_misses(damped_fit):
    env, semi, _, _, params, metrics = damped_fit
    test = _pendulum_data(env, 512, jax.random.key(13))

    def mse(predict):
        pred = jax.jit(jax.vmap(lambda o, a: predict(o, a)[0]))(test.obs, test.action)
        return float(jnp.mean(jnp.square(pred - test.next_obs)))

    physics_mse = mse(lambda o, a: semi.physics.predict(params.physics, o, a))
    semi_mse = mse(lambda o, a: semi.predict(params, o, a))
    assert physics_mse > 1e-3  # damping 0.2 is beyond m and length to explain
    assert semi_mse < physics_mse / 100
    assert float(metrics["model_train_loss"]) < float(metrics["physics_train_loss"]) / 100
    assert semi.physics.named(params.physics)["damping"] == 0.0  # fixed


def test_semiparametric_rows_past_size_do_not_change_the_fit(damped_fit):
    _, semi, data, params0, _, _ = damped_fit
    size = 200
    garbage = jax.tree.map(_fill_past(size, jnp.nan), data)
    zeros = jax.tree.map(_fill_past(size, 0.0), data)
    a, metrics = semi.fit(params0, garbage, size, jax.random.key(14))
    b, _ = semi.fit(params0, zeros, size, jax.random.key(14))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert isinstance(a.physics, PhysicsParams)
