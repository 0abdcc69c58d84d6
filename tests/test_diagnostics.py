"""Model diagnostics: open-loop predictions of a fitted ensemble along real trajectories."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.analysis.model_plots import plot_model_diagnostics
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_jax_env
from mbrlax.models.diagnostics import multistep_error, open_loop
from mbrlax.models.ensemble import EnsembleConfig, ProbabilisticEnsemble


def _trajectory(env, key, steps):
    """``(obs [T+1, d], actions [T, A])`` of random actions, smoothed so the pendulum swings."""
    k_reset, k_act = jax.random.split(key)
    state, obs = env.reset(k_reset)
    noise = jax.random.uniform(k_act, (steps, 1), minval=-2.0, maxval=2.0)
    actions = jnp.cumsum(noise, axis=0) * 0.3
    actions = jnp.clip(actions - jnp.mean(actions), -2.0, 2.0)

    def step(state, action):
        out = env.step(state, action)
        return out.state, out.obs

    _, states = jax.lax.scan(step, state, actions)
    return jnp.concatenate([obs[None], states]), actions


@pytest.fixture(scope="module")
def fitted():
    env = make_jax_env("mbrlax/Pendulum-v0")
    model = ProbabilisticEnsemble(
        EnsembleConfig(num_members=3, num_elites=3, hidden_sizes=(64, 64), max_epochs=60,
                       learn_reward=True),
        env.spec.obs_dim, env.spec.action_dim,
    )  # fmt: skip
    trajectories = [_trajectory(env, k, 200) for k in jax.random.split(jax.random.key(0), 15)]
    obs = jnp.concatenate([o[:-1] for o, _ in trajectories])
    next_obs = jnp.concatenate([o[1:] for o, _ in trajectories])
    actions = jnp.concatenate([a for _, a in trajectories])
    data = Transition(obs, actions, jnp.zeros(len(obs)), next_obs, jnp.zeros(len(obs), bool))
    buffer = ReplayBuffer.create(jax.tree.map(lambda x: x[0], data), len(obs)).add_batch(data)
    params, metrics = model.fit(model.init(jax.random.key(1)), buffer.data, buffer.size,
                                jax.random.key(2))  # fmt: skip
    held_out = _trajectory(env, jax.random.key(99), 200)
    return model, params, held_out, metrics


def test_multistep_error_of_a_fitted_ensemble_grows_with_the_horizon(fitted):
    model, params, (obs, actions), metrics = fitted
    assert float(metrics["val_mse"]) < 0.05
    errors = np.asarray(
        jax.jit(lambda k: multistep_error(model, params, obs, actions, 40, k))(jax.random.key(3))
    )
    assert errors.shape == (40,)
    assert errors[0] < 0.01, errors[:5]  # one step ahead it is accurate
    assert errors[4] < errors[19] < errors[39]  # and it compounds
    assert errors[39] > 10 * errors[0]


def test_open_loop_starts_at_the_truth_and_its_spread_grows(fitted, tmp_path):
    model, params, (obs, actions), _ = fitted
    pred = open_loop(model, params, obs, actions, start=50, horizon=100, key=jax.random.key(4))
    assert pred.mean.shape == pred.truth.shape == (101, 3)
    np.testing.assert_allclose(pred.mean[0], obs[50], atol=1e-6)
    assert float(pred.std[0].max()) < 1e-6
    assert float(pred.std[-10:].mean()) > float(pred.std[1:10].mean())
    errors = np.linspace(0.01, 1.0, 100)
    out = plot_model_diagnostics(pred, errors, tmp_path / "d.png", start=50, title="pendulum")
    assert out.exists() and out.stat().st_size > 10_000


def test_window_outside_the_trajectory_is_refused(fitted):
    model, params, (obs, actions), _ = fitted
    with pytest.raises(ValueError, match="must lie inside the trajectory's 200 steps"):
        open_loop(model, params, obs, actions, start=150, horizon=100, key=jax.random.key(0))
