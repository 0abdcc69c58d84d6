"""Particle propagation: trajectories against rollouts of each member computed by hand."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.models.ensemble import EnsembleConfig, EnsembleParams, ProbabilisticEnsemble
from mbrlax.models.propagation import Belief, disagreement, elite_counts, particle_dynamics

CFG = EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(16, 16), probabilistic=False)
D, A, H = 3, 2, 4
ELITES = jnp.array([4, 0, 2], jnp.int32)


def reward_fn(obs, action, next_obs):
    return jnp.sum(next_obs) - jnp.sum(action**2)


def never(obs, action, next_obs):
    return jnp.array(False)


@functools.partial(jax.jit, static_argnums=0)
def _predict(model, params, obs, action):
    return model.predict(params, obs, action)


def _random_members():
    """A deterministic ensemble whose (random) members disagree, elites 4, 0, 2."""
    model = ProbabilisticEnsemble(CFG, obs_dim=D, action_dim=A)
    params = model.init(jax.random.key(0))
    return model, EnsembleParams(params.net, params.input_norm, params.output_norm, ELITES)


def _constant_members(deltas, probabilistic=False, raw_logvar=None):
    """Member m predicts ``deltas[m]`` whatever the input (zero last layer, normalisers at
    identity), with normalised raw log-variance ``raw_logvar`` if probabilistic."""
    deltas = jnp.asarray(deltas, jnp.float32)
    cfg = dataclasses.replace(CFG, probabilistic=probabilistic)
    model = ProbabilisticEnsemble(cfg, obs_dim=deltas.shape[1], action_dim=A)
    params = model.init(jax.random.key(0))
    bias = deltas if not probabilistic else jnp.concatenate([deltas, raw_logvar], axis=1)
    net = dataclasses.replace(
        params.net,
        weights=(*params.net.weights[:-1], jnp.zeros_like(params.net.weights[-1])),
        biases=(*params.net.biases[:-1], bias),
    )
    return model, EnsembleParams(net, params.input_norm, params.output_norm, ELITES)


def _rollout(model, params, mode, num_particles, actions, key, termination_fn=never):
    """Scan ``step`` over ``actions [H, A]``; returns (obs [H+1, S, d], rewards [H], done [H],
    final belief)."""
    init_belief, step = particle_dynamics(
        model, params, mode=mode, num_particles=num_particles, reward_fn=reward_fn,
        termination_fn=termination_fn,
    )  # fmt: skip

    @jax.jit
    def run(obs0, actions, key):
        def body(belief, xs):
            action, k = xs
            belief, r, done = step(belief, action, k)
            return belief, (belief.obs, r, done)

        b0 = init_belief(obs0)
        keys = jax.random.split(key, actions.shape[0])
        final, (obs, r, done) = jax.lax.scan(body, b0, (actions, keys))
        return jnp.concatenate([b0.obs[None], obs]), r, done, final

    return run(jnp.array([0.1, -0.2, 0.3]), actions, key)


def _member_rollout(model, params, member, obs0, actions):
    """Deterministic rollout of one member by hand, through ``predict``."""
    traj, rewards, obs = [obs0], [], obs0
    for a in actions:
        mean, _ = _predict(model, params, obs, a)
        nxt = obs + mean[member, :D]
        rewards.append(reward_fn(obs, a, nxt))
        traj.append(nxt)
        obs = nxt
    return jnp.stack(traj), jnp.stack(rewards)


ACTIONS = jax.random.uniform(jax.random.key(1), (H, A), minval=-1.0, maxval=1.0)
OBS0 = jnp.array([0.1, -0.2, 0.3])


def _distinct(trajectories):
    """Number of distinct particle trajectories in ``[H+1, S, d]``."""
    flat = np.asarray(jnp.swapaxes(trajectories, 0, 1)).reshape(trajectories.shape[1], -1)
    return len(np.unique(flat.round(5), axis=0))


def test_ts1_particles_follow_their_elite():
    model, params = _random_members()
    obs, rewards, _, _ = _rollout(model, params, "ts1", 6, ACTIONS, jax.random.key(2))
    assert obs.shape == (H + 1, 6, D)
    assert _distinct(obs) == CFG.num_elites
    expected_r = 0.0
    for slot in range(6):
        elite = int(ELITES[slot // 2])  # 6 particles over 3 elites: slots 2k, 2k+1 -> elite k
        traj, r = _member_rollout(model, params, elite, OBS0, ACTIONS)
        np.testing.assert_allclose(obs[:, slot], traj, rtol=1e-5, atol=1e-5)
        expected_r = expected_r + r / 6
    np.testing.assert_allclose(rewards, expected_r, rtol=1e-5, atol=1e-5)


def test_tsinf_redraws_members_every_step():
    model, params = _random_members()
    obs, _, _, _ = _rollout(model, params, "tsinf", 12, ACTIONS, jax.random.key(3))
    assert _distinct(obs) > CFG.num_elites
    # Every particle's every step is one elite's prediction from where it stood.
    for t in range(H):
        for slot in range(12):
            mean, _ = _predict(model, params, obs[t, slot], ACTIONS[t])
            steps = obs[t, slot] + mean[ELITES, :D]
            assert jnp.min(jnp.max(jnp.abs(steps - obs[t + 1, slot]), axis=1)) < 1e-5


def test_expectation_is_the_mean_of_the_elites():
    model, params = _random_members()
    obs, rewards, _, final = _rollout(model, params, "expectation", 20, ACTIONS, jax.random.key(4))
    assert obs.shape == (H + 1, 1, D) and final.alive.shape == (1,)
    x = OBS0
    for t in range(H):
        mean, _ = _predict(model, params, x, ACTIONS[t])
        nxt = x + jnp.mean(mean[ELITES, :D], axis=0)
        np.testing.assert_allclose(obs[t + 1, 0], nxt, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(rewards[t], reward_fn(x, ACTIONS[t], nxt), rtol=1e-5)
        x = nxt


def test_terminated_particles_earn_nothing_and_stay_put():
    # Elites 4, 0, 2 move obs[0] by 1.0, 0.5, 0.2 per step; a particle terminates past 2.5.
    deltas = jnp.zeros((5, 3)).at[jnp.array([4, 0, 2]), 0].set(jnp.array([1.0, 0.5, 0.2]))
    model, params = _constant_members(deltas)
    actions = jnp.zeros((14, A))
    done_fn = lambda o, a, n: n[0] > 2.5  # noqa: E731
    init_belief, step = particle_dynamics(
        model, params, mode="ts1", num_particles=6, reward_fn=lambda o, a, n: 1.0,
        termination_fn=done_fn,
    )  # fmt: skip

    def body(b, a):
        b, r, done = step(b, a, jax.random.key(0))
        return b, (r, done, b.obs[:, 0])

    _, (r, done, x) = jax.jit(lambda b: jax.lax.scan(body, b, actions))(init_belief(jnp.zeros(3)))
    # Fraction alive before each step: elite 4 ends at step 3, elite 0 at 6, elite 2 at 13.
    alive_before = np.array([6] * 3 + [4] * 3 + [2] * 7 + [0]) / 6
    np.testing.assert_allclose(r, alive_before, rtol=1e-6)
    np.testing.assert_array_equal(done, np.arange(1, 15) >= 13)
    np.testing.assert_allclose(x[-1], [3.0, 3.0, 3.0, 3.0, 2.6, 2.6], rtol=1e-5)


def test_uneven_particle_counts_need_no_padding():
    deltas = jnp.zeros((5, 3)).at[jnp.array([4, 0, 2]), 0].set(jnp.array([1.0, 0.5, 0.2]))
    model, params = _constant_members(deltas)
    init_belief, step = particle_dynamics(
        model, params, mode="ts1", num_particles=5, reward_fn=lambda o, a, n: n[0],
        termination_fn=never,
    )  # fmt: skip
    belief = init_belief(jnp.zeros(3))
    assert belief.obs.shape == (5, 3) and bool(belief.alive.all())
    belief, reward, _ = jax.jit(step)(belief, jnp.zeros(A), jax.random.key(0))
    # 5 particles over 3 elites: blocks of 2, 2, 1 for elites 4, 0, 2.
    np.testing.assert_allclose(belief.obs[:, 0], [1.0, 1.0, 0.5, 0.5, 0.2], rtol=1e-6)
    np.testing.assert_allclose(reward, (2 * 1.0 + 2 * 0.5 + 0.2) / 5, rtol=1e-6)
    assert elite_counts(20, 7) == (3, 3, 3, 3, 3, 3, 2)
    assert elite_counts(6, 3) == (2, 2, 2)


def test_ts1_samples_each_members_gaussian():
    """A probabilistic member's samples have its predicted mean and variance."""
    deltas = jnp.tile(jnp.array([[0.5, -1.0, 0.0]]), (5, 1))
    raw = jnp.full((5, 3), jnp.log(0.04))
    model, params = _constant_members(deltas, probabilistic=True, raw_logvar=raw)
    _, var = _predict(model, params, jnp.zeros(3), jnp.zeros(A))
    init_belief, step = particle_dynamics(
        model, params, mode="ts1", num_particles=3000, reward_fn=reward_fn, termination_fn=never
    )
    belief, _, _ = jax.jit(step)(init_belief(jnp.zeros(3)), jnp.zeros(A), jax.random.key(5))
    np.testing.assert_allclose(belief.obs.mean(0), deltas[0], atol=0.015)
    np.testing.assert_allclose(belief.obs.var(0), var[0], rtol=0.1)


def _bonus_step(model, params, mode, num_particles, weight):
    init_belief, step = particle_dynamics(
        model, params, mode=mode, num_particles=num_particles, reward_fn=lambda o, a, n: 1.0,
        termination_fn=never, bonus_weight=weight,
    )  # fmt: skip
    return jax.jit(step)(init_belief(jnp.zeros(3)), jnp.zeros(A), jax.random.key(0))


def test_disagreement_bonus_is_the_information_gain_of_the_members_spread():
    # Elites 4, 0, 2 move obs by these deltas: their spread per dim, population variance.
    deltas = (
        jnp.zeros((5, 3))
        .at[jnp.array([4, 0, 2])]
        .set(jnp.array([[1.0, 0.0, 2.0], [0.5, 0.0, -1.0], [0.0, 0.0, 0.5]]))
    )
    spread = np.var(np.array([[1.0, 0.0, 2.0], [0.5, 0.0, -1.0], [0.0, 0.0, 0.5]]), axis=0)
    model, params = _constant_members(deltas)
    # Deterministic members: the spread is set against the data's (normalisers at identity).
    want = 0.5 * np.sum(np.log1p(spread))
    # Every elite predicts from the first particle's state whatever the particles: one
    # particle (elites 0 and 2 move none), one or two per elite give the same bonus.
    for particles in (1, 3, 6):
        _, reward, _ = _bonus_step(model, params, "ts1", particles, 0.3)
        np.testing.assert_allclose(reward, 1.0 + 0.3 * want, rtol=1e-5)
    _, plain, _ = _bonus_step(model, params, "ts1", 3, None)
    np.testing.assert_allclose(plain, 1.0, rtol=1e-6)
    # One trajectory cannot disagree with itself.
    _, reward, _ = _bonus_step(model, params, "expectation", 3, 0.3)
    np.testing.assert_allclose(reward, 1.0, rtol=1e-6)
    # Members that agree earn no bonus.
    same, same_params = _constant_members(jnp.tile(jnp.array([[1.0, 0.0, 2.0]]), (5, 1)))
    _, reward, _ = _bonus_step(same, same_params, "ts1", 3, 0.3)
    np.testing.assert_allclose(reward, 1.0, rtol=1e-6)
    # Probabilistic members: the spread of their means against their own predicted noise
    # (the means stay apart before sampling, so the draw does not enter the bonus).
    raw = jnp.full((5, 3), jnp.log(0.04))
    model, params = _constant_members(deltas, probabilistic=True, raw_logvar=raw)
    _, var = _predict(model, params, jnp.zeros(3), jnp.zeros(A))
    want = 0.5 * np.sum(np.log1p(spread / np.asarray(var[0])))
    _, reward, _ = _bonus_step(model, params, "ts1", 3, 0.3)
    np.testing.assert_allclose(reward, 1.0 + 0.3 * want, rtol=1e-5)


def test_disagreement_counts_only_alive_particles():
    deltas = jnp.zeros((5, 3)).at[jnp.array([4, 0, 2]), 0].set(jnp.array([1.0, 0.5, 0.2]))
    model, params = _constant_members(deltas)
    pred = model.predict_members(
        model.select_members(params, params.elite_idx), jnp.zeros((3, 3)), jnp.zeros((3, A))
    )
    gain = disagreement(model, params, pred, jnp.array([True, True, False]))
    np.testing.assert_allclose(gain, 0.5 * np.log1p(np.var([1.0, 0.5])), rtol=1e-5)
    assert float(disagreement(model, params, pred, jnp.array([True, False, False]))) == 0.0


def test_bad_arguments_are_reported():
    model, params = _random_members()
    with pytest.raises(ValueError, match="mode"):
        particle_dynamics(model, params, mode="ts", num_particles=5, reward_fn=reward_fn,
                          termination_fn=never)  # fmt: skip
    with pytest.raises(ValueError, match="reward_fn"):
        particle_dynamics(model, params, mode="ts1", num_particles=5, termination_fn=never)
    assert Belief._fields == ("obs", "alive")
