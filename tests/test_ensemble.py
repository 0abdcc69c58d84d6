"""ProbabilisticEnsemble: fits known functions, calibrated variance, elites, one compile."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.data.buffer import Transition
from mbrlax.models.ensemble import EnsembleConfig, EnsembleParams, ProbabilisticEnsemble

# Tiny nets and a few hundred points keep every fit well under a second once compiled; the
# compile is the cost, so the tests share a few configs.
PE = EnsembleConfig(
    num_members=5,
    num_elites=3,
    hidden_sizes=(32, 32),
    batch_size=32,
    max_epochs=200,
    patience=10,
    learning_rate=3e-3,
    learn_reward=True,
    learn_termination=True,
)
# No holdout: validation then uses the training rows, which gives the elites test an oracle.
DE = dataclasses.replace(
    PE, num_members=4, num_elites=2, probabilistic=False, patience=5, learn_reward=False,
    learn_termination=False, holdout_ratio=0.0,
)  # fmt: skip
CAPACITY = 600


def _noise_std(x):
    """True heteroscedastic noise of the 1-d task: grows from 0.05 to 0.25 with |x|."""
    return 0.05 + 0.2 * jnp.abs(x) / 3.0


def _sine_data(key, n: int, heteroscedastic: bool = True) -> Transition:
    """``next_obs - obs = sin(obs) + noise`` on obs in [-3, 3], action in [-1, 1];
    reward ``obs / 2 - action^2 / 2`` and termination ``obs + action > 1`` (noise-free)."""
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.uniform(k1, (n, 1), minval=-3.0, maxval=3.0)
    a = jax.random.uniform(k3, (n, 1), minval=-1.0, maxval=1.0)
    std = _noise_std(x) if heteroscedastic else 0.1
    y = jnp.sin(x) + std * jax.random.normal(k2, (n, 1))
    reward = 0.5 * x[:, 0] - 0.5 * a[:, 0] ** 2
    return Transition(x, a, reward, x + y, x[:, 0] + a[:, 0] > 1.0)


@functools.partial(jax.jit, static_argnums=0)
def _elite_moments(model, params, data):
    """Mean and variance of the elites' mixture at each row: ``[N, T]`` each."""
    mean, var = jax.vmap(lambda o, a: model.predict(params, o, a))(data.obs, data.action)
    mean, var = mean[:, params.elite_idx], var[:, params.elite_idx]
    mix_mean = mean.mean(1)
    return mix_mean, (var + mean**2).mean(1) - mix_mean**2


@pytest.fixture(scope="module")
def pe_fit():
    model = ProbabilisticEnsemble(PE, obs_dim=1, action_dim=1)
    data = _sine_data(jax.random.key(0), CAPACITY)
    params0 = model.init(jax.random.key(1))
    params, metrics = model.fit(params0, data, 500, jax.random.key(2))
    return model, data, params0, params, metrics


def test_pe_fits_and_is_calibrated_on_held_out_data(pe_fit):
    model, _, _, params, metrics = pe_fit
    test = _sine_data(jax.random.key(3), 2000)
    mean, var = _elite_moments(model, params, test)
    x, y = test.obs[:, 0], (test.next_obs - test.obs)[:, 0]
    sigma = jnp.sqrt(var[:, 0])
    assert float(jnp.sqrt(jnp.mean((mean[:, 0] - jnp.sin(x)) ** 2))) < 0.08
    within = float(jnp.mean(jnp.abs(y - mean[:, 0]) < sigma))
    assert 0.55 < within < 0.8, within  # a Gaussian puts 68% within one sigma
    true = _noise_std(x)
    assert float(jnp.corrcoef(sigma, true)[0, 1]) > 0.9  # sigma tracks the true noise ...
    ratio = float(jnp.mean(sigma / true))
    assert 0.7 < ratio < 1.4, ratio  # ... at the right scale
    assert 0 < int(metrics["epochs"]) <= PE.max_epochs
    assert float(metrics["val_mse"]) < 0.1  # normalised units: 1.0 = predicting the mean


def test_same_key_same_params_other_key_other_params(pe_fit):
    model, data, params0, params, _ = pe_fit
    again, _ = model.fit(params0, data, 500, jax.random.key(2))
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other, _ = model.fit(params0, data, 500, jax.random.key(7))
    assert not np.array_equal(params.net.weights[0], other.net.weights[0])


def test_tiny_datasets_fit_without_nan(pe_fit):
    model, data, params0, _, _ = pe_fit
    for size in (5, 2, 1):  # 5 rows: one held out; 2 and 1: validate on the training rows
        params, metrics = model.fit(params0, data, size, jax.random.key(size))
        assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves((params, metrics)))


def test_fit_compiles_once_across_sizes(pe_fit, monkeypatch):
    model, data, params0, _, _ = pe_fit
    model.fit(params0, data, 100, jax.random.key(0))  # compiled for this capacity
    traces = []
    prepare = ProbabilisticEnsemble._prepare
    monkeypatch.setattr(
        ProbabilisticEnsemble, "_prepare", lambda *a: traces.append(1) or prepare(*a)
    )
    for size in (150, 300, jnp.asarray(CAPACITY)):
        params, _ = model.fit(params0, data, size, jax.random.key(0))
    jax.block_until_ready(params)
    assert traces == []  # a size-dependent compile would have traced again


@pytest.fixture(scope="module")
def de_fit():
    model = ProbabilisticEnsemble(DE, obs_dim=1, action_dim=1)
    data = _sine_data(jax.random.key(8), 400, heteroscedastic=False)
    params, metrics = model.fit(model.init(jax.random.key(9)), data, 400, jax.random.key(10))
    return model, data, params, metrics


def test_deterministic_ensemble_fits_the_mean_and_stops_early(de_fit):
    model, _, params, metrics = de_fit
    test = _sine_data(jax.random.key(11), 1000)
    mean, var = _elite_moments(model, params, test)
    assert float(jnp.sqrt(jnp.mean((mean[:, 0] - jnp.sin(test.obs[:, 0])) ** 2))) < 0.08
    _, member_var = model.predict(params, test.obs[0], test.action[0])
    np.testing.assert_array_equal(member_var, 0.0)
    # The noise floor is reached long before max_epochs; patience then stops training.
    assert int(metrics["epochs"]) < DE.max_epochs


def test_elites_are_the_lowest_validation_members(de_fit):
    """Without holdout, validation is on all rows with the fitted normalisers: an oracle."""
    model, data, params, metrics = de_fit
    targets = np.asarray(data.next_obs - data.obs)
    mean, _ = jax.jit(jax.vmap(lambda o, a: model.predict(params, o, a)))(data.obs, data.action)
    z = (np.asarray(mean) - targets[:, None]) / targets.std(0)
    mse = np.mean(z**2, axis=(0, 2))  # [E], in normalised target units
    elites = params.elite_idx.tolist()
    others = sorted(set(range(DE.num_members)) - set(elites))
    assert len(set(elites)) == DE.num_elites
    assert mse[elites].max() <= mse[others].min() * (1 + 1e-5), mse
    np.testing.assert_allclose(metrics["val_mse"], mse[elites].mean(), rtol=1e-4)


def test_step_draws_a_uniform_elite():
    model = ProbabilisticEnsemble(DE, obs_dim=2, action_dim=1)
    params = model.init(jax.random.key(0))
    # Zero last layer: member m predicts the delta in its bias, (m, -m), whatever the input.
    deltas = jnp.stack([jnp.arange(3.0), -jnp.arange(3.0)], 1)
    net = dataclasses.replace(
        params.net,
        weights=(*params.net.weights[:-1], jnp.zeros_like(params.net.weights[-1])),
        biases=(*params.net.biases[:-1], deltas),
    )
    params = EnsembleParams(net, params.input_norm, params.output_norm, jnp.array([2, 0]))
    obs, action = jnp.array([1.0, 1.0]), jnp.array([0.3])
    step = jax.jit(
        jax.vmap(
            lambda k: model.step(
                params, obs, action, k, lambda o, a, n: n[0], lambda o, a, n: n[1] < 0.5
            )
        )
    )
    nxt, reward, done = step(jax.random.split(jax.random.key(1), 600))
    member = np.asarray(nxt[:, 0] - 1.0).round().astype(int)
    assert set(member.tolist()) == {0, 2}  # elites only, never member 1
    assert 240 < np.sum(member == 2) < 360
    np.testing.assert_allclose(nxt[:, 1], 1.0 - member)
    np.testing.assert_allclose(reward, nxt[:, 0])
    np.testing.assert_array_equal(done, member == 2)


def test_learned_reward_and_termination_heads(pe_fit):
    model, _, _, params, _ = pe_fit
    test = _sine_data(jax.random.key(3), 1000)
    keys = jax.random.split(jax.random.key(4), 1000)
    # No reward_fn / termination_fn: the learned heads answer.
    _, reward, done = jax.jit(jax.vmap(lambda o, a, k: model.step(params, o, a, k)))(
        test.obs, test.action, keys
    )
    assert float(jnp.sqrt(jnp.mean((reward - test.reward) ** 2))) < 0.05  # reward std ~0.9
    assert float(jnp.mean(done == test.terminated)) > 0.95
    _, r_mean, d_mean = jax.jit(jax.vmap(lambda o, a: model.expected_step(params, o, a)))(
        test.obs, test.action
    )
    assert float(jnp.sqrt(jnp.mean((r_mean - test.reward) ** 2))) < 0.05
    assert float(jnp.mean(d_mean == test.terminated)) > 0.95


def test_errors_say_what_to_do():
    model = ProbabilisticEnsemble(DE, obs_dim=2, action_dim=1)
    params = model.init(jax.random.key(0))
    obs, act, key = jnp.zeros(2), jnp.zeros(1), jax.random.key(1)
    with pytest.raises(ValueError, match="reward_fn"):
        model.step(params, obs, act, key)
    with pytest.raises(ValueError, match="termination_fn"):
        model.step(params, obs, act, key, reward_fn=lambda o, a, n: 0.0)
    with pytest.raises(ValueError, match="counts"):
        model.predict_members(params, jnp.zeros((4, 2)), jnp.zeros((4, 1)), counts=(2, 1, 0))
    with pytest.raises(ValueError, match=r"obs \[2\]"):
        model.predict(params, jnp.zeros(3), act)
    data = Transition(jnp.zeros((8, 2)), jnp.zeros((8, 1)), jnp.zeros(8), jnp.zeros((8, 2)),
                      jnp.zeros(8, bool))  # fmt: skip
    with pytest.raises(ValueError, match="size"):
        model.fit(params, data, 0, key)
    with pytest.raises(ValueError, match="data.action"):
        model.fit(params, data._replace(action=jnp.zeros((8, 2))), 8, key)
    with pytest.raises(ValueError, match="num_elites"):
        EnsembleConfig(num_members=3, num_elites=4)
