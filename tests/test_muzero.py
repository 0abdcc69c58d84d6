"""MuZero: its training targets at episode ends, its learned model, the runner, learning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import resumed_from_oldest_checkpoint

from mbrlax.agents.muzero import MuZero, MuZeroConfig
from mbrlax.agents.muzero.networks import predict, represent
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_jax_env
from mbrlax.envs.spec import EnvSpec
from mbrlax.planners import MCTS
from mbrlax.training.experiment import MuZeroExperiment, run

TOY = EnvSpec("toy", (2,), "discrete", (), num_actions=2)
SEARCH = MCTS(num_simulations=4, discount=0.5)


def _toy_buffer() -> ReplayBuffer:
    """Episode A terminates after 3 steps, B is cut by a time limit after 2, C runs on.

    Observations are ``[episode, t]``; rewards 1, 2, 3 / 10, 20 / 100, 200, 300.
    """
    rows = []
    for episode, rewards, terminal in ((0, (1, 2, 3), True), (1, (10, 20), False),
                                       (2, (100, 200, 300), False)):  # fmt: skip
        for t, r in enumerate(rewards):
            last = t == len(rewards) - 1
            rows.append(Transition(
                np.array([episode, t], np.float32), np.int32(t % 2), np.float32(r),
                np.array([episode, t + 1], np.float32), np.bool_(terminal and last),
            ))  # fmt: skip
    items = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    return ReplayBuffer.create(rows[0], 16).add_batch(items)


def test_config_is_checked():
    with pytest.raises(ValueError, match="unroll_steps"):
        MuZeroConfig(unroll_steps=0)
    with pytest.raises(ValueError, match="bootstrap"):
        MuZeroConfig(bootstrap="td")
    with pytest.raises(ValueError, match="reanalyse_policy"):
        MuZeroConfig(reanalyse_policy="ucb")
    with pytest.raises(ValueError, match="target_tau"):
        MuZeroConfig(target_tau=2.0)


def test_box_actions_and_tabular_observations_are_refused():
    with pytest.raises(ValueError, match="searches over discrete actions"):
        MuZero(MuZeroConfig(), make_jax_env("mbrlax/Pendulum-v0").spec)
    tabular = EnvSpec("FrozenLake-v1", (), "discrete", (), num_actions=4, num_states=16)
    with pytest.raises(ValueError, match="dyna-q"):
        MuZero(MuZeroConfig(), tabular)


def test_sequence_targets_stop_at_terminations_and_truncations():
    cfg = MuZeroConfig(search=SEARCH, unroll_steps=3, td_steps=2, hidden_sizes=(8,), latent_dim=4)
    agent = MuZero(cfg, TOY)
    nets = agent.init(jax.random.key(0)).target_nets
    buffer = _toy_buffer()
    targets = jax.jit(agent.sequence_targets)

    def v(episode, t):  # the target networks' value of an observation
        return float(predict(nets, represent(nets, jnp.array([episode, t], jnp.float32)), 1.0)[1])

    # From A's first step: the termination ends the n-step sums; afterwards, absorbing.
    a = targets(nets, buffer, jnp.int32(0), jax.random.key(1))
    np.testing.assert_allclose(
        a.values, [1 + 0.5 * 2 + 0.25 * v(0, 2), 2 + 0.5 * 3, 3, 0], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(a.value_mask, [True] * 4)
    np.testing.assert_array_equal(a.policy_mask, [True, True, True, False])
    np.testing.assert_array_equal(a.rewards, [1, 2, 3])
    np.testing.assert_array_equal(a.reward_mask, [True] * 3)
    np.testing.assert_array_equal(a.actions, [0, 1, 0])
    np.testing.assert_allclose(a.policies.sum(-1), 1.0, atol=1e-5)
    # From B's first step: B was truncated, so it bootstraps from its last observation and
    # what follows (episode C) is not B's: left out.
    b = targets(nets, buffer, jnp.int32(3), jax.random.key(1))
    np.testing.assert_allclose(
        b.values[:2], [10 + 0.5 * 20 + 0.25 * v(1, 2), 20 + 0.5 * v(1, 2)], rtol=1e-5
    )
    np.testing.assert_array_equal(b.value_mask, [True, True, False, False])
    np.testing.assert_array_equal(b.policy_mask, [True, True, False, False])
    np.testing.assert_array_equal(b.reward_mask, [True, True, False])
    # The newest transition: nothing after it is known yet.
    c = targets(nets, buffer, jnp.int32(7), jax.random.key(1))
    np.testing.assert_allclose(c.values[0], 300 + 0.5 * v(2, 3), rtol=1e-5)
    np.testing.assert_array_equal(c.value_mask, [True, False, False, False])


def _experiment(env, run_dir, agent=None, **runner) -> MuZeroExperiment:
    exp = MuZeroExperiment.preset(env, run_dir=run_dir)
    agent = agent or dataclasses.replace(
        exp.agent, search=MCTS(num_simulations=4, discount=0.99), hidden_sizes=(32,),
        latent_dim=16, batch_size=16, reanalyse_simulations=2, unroll_steps=3, td_steps=3,
    )  # fmt: skip
    return dataclasses.replace(
        exp, agent=agent, runner=dataclasses.replace(exp.runner, progress=False, **runner)
    )


def test_runs_through_the_runner_and_resumes_exactly(tmp_path):
    exp = _experiment(
        "mbrlax/Catch-v0", tmp_path / "full", episodes=4, warmup_steps=9, eval_every=2,
        eval_episodes=1, checkpoint_every=10,
    )  # fmt: skip
    full = run(exp)
    assert [r["env_steps"] for r in full.rows] == [9, 18, 27, 36]
    assert np.isfinite(full.rows[-1]["agent/reward_loss"])
    columns = ("env_steps", "train_return", "eval_return", "agent/value_loss", "agent/reward_loss")
    # Checkpoints at steps 10, 20, 30, 36, the last 3 kept: resumed from 20, mid-episode 3.
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]


CHAIN = 6  # cells; moving right into the last one earns 1 and ends the episode


def _chain_step(pos: int, action: int) -> tuple[int, float, bool]:
    nxt = min(max(pos + (1 if action else -1), 0), CHAIN - 1)
    return nxt, float(nxt == CHAIN - 1), nxt == CHAIN - 1


def _chain_buffer(n: int, seed: int) -> ReplayBuffer:
    """Random walks on the chain (one-hot observations), cut after 30 steps."""
    rng, eye, rows, pos, t = np.random.default_rng(seed), np.eye(CHAIN, dtype=np.float32), [], 0, 0
    for _ in range(n):
        action = int(rng.integers(2))
        nxt, reward, done = _chain_step(pos, action)
        rows.append(Transition(eye[pos], np.int32(action), np.float32(reward), eye[nxt],
                               np.bool_(done)))  # fmt: skip
        pos, t = (0, 0) if done or t >= 30 else (nxt, t + 1)
    items = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    return ReplayBuffer.create(rows[0], n).add_batch(items)


@pytest.mark.slow
def test_the_unrolled_model_reproduces_the_rewards_of_every_action_sequence():
    cfg = MuZeroConfig(
        search=MCTS(num_simulations=2, discount=0.9), reanalyse_simulations=4, unroll_steps=4,
        td_steps=3, batch_size=64, updates_per_step=300, target_tau=1.0, latent_dim=32,
    )  # fmt: skip
    agent = MuZero(cfg, EnvSpec("chain", (CHAIN,), "discrete", (), num_actions=2))
    state = agent.init(jax.random.key(0))
    buffer = _chain_buffer(3000, seed=0)
    for i in range(5):
        state, _ = agent.update(state, buffer, jax.random.key(i))
    unroll = jax.jit(agent.unroll)
    errors = []
    for start in range(CHAIN - 1):
        for code in range(16):  # all 16 sequences of 4 actions, open loop from h(o)
            actions = [(code >> j) & 1 for j in range(4)]
            pos, done, truth = start, False, []
            for a in actions:  # nothing is earned after the episode ended
                if not done:
                    pos, reward, done = _chain_step(pos, a)
                    truth.append(reward)
                else:
                    truth.append(0.0)
            predicted, _ = unroll(state.nets, jnp.eye(CHAIN)[start], jnp.array(actions))
            errors.append(np.abs(np.asarray(predicted) - truth))
    # Rewards 1 and 0 told apart 4 steps out, termination included.
    assert np.max(errors) < 0.25, np.max(errors, axis=0)
    assert np.mean(errors) < 0.02


@pytest.mark.slow
def test_muzero_learns_to_balance_the_cartpole(tmp_path):
    exp = MuZeroExperiment.preset("CartPole-v1", run_dir=tmp_path / "r")
    runner = dataclasses.replace(exp.runner, total_steps=8000)  # the preset's evaluations
    rows = run(dataclasses.replace(exp, runner=dataclasses.replace(runner, progress=False))).rows
    evals = [r["eval_return"] for r in rows if "eval_return" in r]
    # A random policy falls after about 22 steps; the README's run first averaged 475 over 10
    # episodes after 4,782 steps.
    assert max(evals) >= 475, evals
