"""AlphaZero with a known model: its learning step, its wiring into the runner, and learning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_play_buffer, resumed_from_oldest_checkpoint

from mbrlax.agents.alphazero import AlphaZero, AlphaZeroConfig
from mbrlax.agents.alphazero.networks import policy_value, policy_value_loss
from mbrlax.envs import make_jax_env
from mbrlax.planners import MCTS
from mbrlax.training.experiment import AlphaZeroExperiment, run

SEARCH = MCTS(num_simulations=8, discount=0.99, dirichlet_fraction=0.25, temperature=1.0)


def _agent(env_id="mbrlax/CartPole-v0", **kw) -> AlphaZero:
    env = make_jax_env(env_id)
    return AlphaZero(AlphaZeroConfig(search=SEARCH, hidden_sizes=(32,), **kw), env.spec, env)


def test_config_is_checked():
    with pytest.raises(ValueError, match="batch_size"):
        AlphaZeroConfig(batch_size=0)
    with pytest.raises(ValueError, match="target_tau"):
        AlphaZeroConfig(target_tau=0.0)
    with pytest.raises(ValueError, match="value_scale"):
        AlphaZeroConfig(value_scale=-1.0)


def test_box_actions_and_mismatched_models_are_refused():
    pendulum, cartpole = make_jax_env("mbrlax/Pendulum-v0"), make_jax_env("mbrlax/CartPole-v0")
    with pytest.raises(ValueError, match="searches over discrete actions"):
        AlphaZero(AlphaZeroConfig(), pendulum.spec, pendulum)
    catch = make_jax_env("mbrlax/Catch-v0")
    with pytest.raises(ValueError, match="does not match"):
        AlphaZero(AlphaZeroConfig(), cartpole.spec, catch)


def test_reanalyse_gives_the_search_policy_and_value_of_the_network():
    agent = _agent()
    state = agent.init(jax.random.key(0))
    obs = random_play_buffer("mbrlax/CartPole-v0", 16).data.obs
    policy, value = jax.jit(agent.reanalyse)(state.net, obs, jax.random.key(1))
    assert policy.shape == (16, 2) and value.shape == (16,)
    np.testing.assert_allclose(policy.sum(-1), 1.0, atol=1e-5)
    # Noise-free search: the targets of one state are those of a single search from it.
    search = jax.jit(agent.search, static_argnums=1)
    _, info = search(
        state.net, agent._greedy_search, obs[3], jax.random.split(jax.random.key(1), 16)[3]
    )
    np.testing.assert_allclose(policy[3], info["action_weights"], atol=1e-6)
    # Every CartPole step earns 1 and 8 simulations reach at least one step past the root.
    assert np.all(np.asarray(value) > 0.5)


def test_updates_fit_the_search_targets():
    agent = _agent(updates_per_step=150, batch_size=64, target_tau=1.0)
    buffer = random_play_buffer("mbrlax/CartPole-v0", 256)
    state = agent.init(jax.random.key(0))
    obs = buffer.data.obs
    policy_t, value_t = jax.jit(agent.reanalyse)(state.net, obs, jax.random.key(5))
    cfg = agent.config

    def loss(net):
        return policy_value_loss(net, obs, policy_t, value_t, cfg.value_scale, 1.0)[0]

    before = float(loss(state.net))
    new, metrics = agent.update(state, buffer, jax.random.key(2))
    assert int(new.updates) == 150
    assert set(metrics) >= {"value_loss", "policy_loss", "entropy"}
    # The targets move with the network (reanalyse), so compare on the first network's ones.
    assert float(loss(new.net)) < 0.5 * before
    logits, _ = jax.vmap(lambda o: policy_value(new.net, o, cfg.value_scale))(obs)
    confident = policy_t.max(-1) > 0.7
    agree = jnp.argmax(logits, -1) == jnp.argmax(policy_t, -1)
    assert float(agree[confident].mean()) > 0.8


def _experiment(env, run_dir, **runner) -> AlphaZeroExperiment:
    exp = AlphaZeroExperiment.preset(env, run_dir=run_dir)
    agent = dataclasses.replace(exp.agent, search=SEARCH, hidden_sizes=(32,), batch_size=32)
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
    assert np.isfinite(full.rows[-1]["agent/value_loss"])
    columns = ("env_steps", "train_return", "eval_return", "agent/value_loss", "agent/policy_loss")
    # Checkpoints at steps 10, 20, 30, 36, the last 3 kept: resumed from 20, mid-episode 3.
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]


@pytest.mark.slow
def test_alphazero_learns_to_hold_the_cartpole_for_500_steps(tmp_path):
    exp = _experiment("mbrlax/CartPole-v0", tmp_path / "r", total_steps=8000, eval_episodes=1)
    exp = dataclasses.replace(exp, agent=AlphaZeroExperiment.preset("mbrlax/CartPole-v0").agent)
    rows = run(exp).rows
    evals = [r["eval_return"] for r in rows if "eval_return" in r]
    assert max(evals[-3:]) == 500.0, evals


@pytest.mark.slow
def test_gymnasium_cartpole_learns_through_its_jax_twin(tmp_path):
    exp = _experiment("CartPole-v1", tmp_path / "r", total_steps=8000, eval_episodes=1)
    exp = dataclasses.replace(exp, agent=AlphaZeroExperiment.preset("CartPole-v1").agent)
    assert exp.model == "mbrlax/CartPole-v0"
    rows = run(exp).rows
    assert max(r["eval_return"] for r in rows if "eval_return" in r) >= 475
