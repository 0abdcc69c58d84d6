"""Linear-model MPC, the example agent of docs/adding_an_agent.md: its least-squares fit
identifies a linear system exactly, and through `mbrlax train` it controls the point mass as
well as MPC through the true model does."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.agents.linear import LinearMPC, LinearMPCConfig
from mbrlax.cli import main
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import get_task, make_env, make_jax_env
from mbrlax.training.experiment import evaluate


def random_episodes(n: int, seed: int = 0) -> ReplayBuffer:
    """``n`` steps of the point mass under uniformly random forces, as the runner stores them."""
    env = make_env("mbrlax/PointMass-v0")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for i in range(n):
        action = rng.uniform(-1, 1, env.spec.action_shape).astype(np.float32)
        next_obs, reward, term, trunc, _ = env.step(action)
        rows.append(Transition(obs, action, np.float32(reward), next_obs, np.bool_(term)))
        obs = env.reset(seed=seed + i + 1)[0] if term or trunc else next_obs
    items = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *rows)
    return ReplayBuffer.create(jax.tree.map(lambda x: x[0], items), n).add_batch(items)


def test_one_random_episode_identifies_the_point_mass_exactly():
    env = make_jax_env("mbrlax/PointMass-v0")
    agent = LinearMPC(LinearMPCConfig(ridge=0.0), env.spec, get_task("mbrlax/PointMass-v0"))
    buffer = random_episodes(100)
    state, metrics = agent.update(agent.init(jax.random.key(0)), buffer, jax.random.key(1))
    a, b, _, _ = env.linear_quadratic()
    s = env.spec.obs_dim
    # next = obs + [obs, u, 1] @ W, so A = I + W[:S].T, B = W[S:S+A].T and no offset.
    w = np.asarray(state.weights, np.float64)
    np.testing.assert_allclose(np.eye(s) + w[:s].T, a, atol=1e-4)
    np.testing.assert_allclose(w[s:-1].T, b, atol=1e-4)
    np.testing.assert_allclose(w[-1], 0.0, atol=1e-4)
    assert float(metrics["train_loss"]) < 1e-9


def test_the_fit_ignores_the_buffers_empty_rows():
    env = make_jax_env("mbrlax/PointMass-v0")
    agent = LinearMPC(LinearMPCConfig(), env.spec, get_task("mbrlax/PointMass-v0"))
    buffer = random_episodes(100)
    garbage = jax.tree.map(lambda x: jnp.concatenate([x, jnp.full_like(x, 7)]), buffer.data)
    padded = ReplayBuffer.create(jax.tree.map(lambda x: x[0], buffer.data), 200)
    padded = eqx.tree_at(lambda b: b.data, padded.add_batch(buffer.data), garbage)
    assert int(padded.size) == 100
    key = jax.random.key(0)
    full = agent.update(agent.init(key), buffer, key)[0].weights
    np.testing.assert_allclose(agent.update(agent.init(key), padded, key)[0].weights, full)


def test_an_env_without_a_known_reward_is_refused_with_what_to_do():
    env = make_env("CartPole-v1")
    with pytest.raises(ValueError, match="Discrete actions.*dyna-q"):
        LinearMPC(LinearMPCConfig(), env.spec, None)
    env = make_env("Pendulum-v1")
    spec = env.spec
    with pytest.raises(ValueError, match="knows none for Pendulum-v1.*register_task.*pets"):
        LinearMPC(LinearMPCConfig(), spec, None)


def test_through_the_cli_it_controls_as_well_as_the_true_model(tmp_path, capsys):
    # The planner subcommand comes last, its options after it.
    quick = ["agent.planner:cem", "--agent.planner.population", "100"]
    env = ["--env", "mbrlax/PointMass-v0", "--no-progress"]
    main(["train", "linear-mpc", *env, "--episodes", "2", "--warmup-steps", "100",
          "--run-dir", str(tmp_path / "linear"), *quick])  # fmt: skip
    main(["train", "mpc", *env, "--episodes", "1", "--run-dir", str(tmp_path / "true"), *quick])
    capsys.readouterr()
    learned = np.mean(evaluate(tmp_path / "linear", episodes=4))
    true = np.mean(evaluate(tmp_path / "true", episodes=4))
    env = make_env("mbrlax/PointMass-v0")
    rng = np.random.default_rng(0)
    random = []
    for i in range(4):
        obs, _ = env.reset(seed=12345 + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(rng.uniform(-1, 1, env.spec.action_shape))
            total, done = total + r, term or trunc
        random.append(total)
    # Same four start states: within 10% of the true model's cost, far from random forces'.
    assert learned >= 1.1 * true, (learned, true)
    assert learned > 0.05 * np.mean(random), (learned, np.mean(random))
