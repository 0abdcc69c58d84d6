"""PETS end to end: determinism, learning a user's env with a learned reward, and (slow)
learning on Pendulum-v1."""

import dataclasses

import numpy as np
import pytest

from mbrlax.agents.pets import PETSConfig
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.planners import CEM
from mbrlax.training.experiment import PETSExperiment, run
from mbrlax.training.loop import RunnerConfig


def tiny(env="Pendulum-v1", seed=0, episodes=2) -> PETSExperiment:
    return PETSExperiment(
        env=env,
        seed=seed,
        agent=PETSConfig(
            model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(16, 16), max_epochs=3),
            planner=CEM(horizon=4, population=16, num_elites=4, iterations=2),
            num_particles=2,
        ),
        runner=RunnerConfig(episodes=episodes, warmup_steps=200, eval_episodes=1, progress=False),
    )


def test_same_seed_same_numbers():
    a = run(tiny(seed=3), save=False).rows
    b = run(tiny(seed=3), save=False).rows
    c = run(tiny(seed=4), save=False).rows
    keys = ("train_return", "eval_return", "agent/train_loss")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    assert a[-1]["train_return"] != c[-1]["train_return"]


def test_jax_native_env_runs_through_the_same_runner():
    rows = run(tiny(env="mbrlax/CartpoleSwingup-v0", episodes=2), save=False).rows
    assert [r["env_steps"] for r in rows] == [200, 400]
    assert all(np.isfinite(r["eval_return"]) for r in rows)


def test_pets_learns_a_users_env_with_a_learned_reward():
    # An env mbrlax knows nothing about (tests/user_envs.py): no preset, no task, so the
    # general defaults and a learned reward. Doing nothing earns about -47, the straight path
    # to the goal about -5; the first planned episode overshoots (the reward learned from one
    # random episode extrapolates), the next ones must find the goal.
    exp = PETSExperiment.preset("user_envs:PointReach-v0", seed=0)
    assert exp.agent == PETSConfig()
    # PETS acts the same in training and evaluation episodes: the training returns are read.
    runner = dataclasses.replace(
        exp.runner, episodes=5, warmup_steps=50, eval_episodes=0, progress=False
    )
    rows = run(dataclasses.replace(exp, runner=runner), save=False).rows
    assert all(np.isfinite(r["agent/train_loss"]) for r in rows)
    assert max(r["train_return"] for r in rows[-2:]) > -20


def test_exploration_bonus_only_in_training_episodes():
    import jax
    import jax.numpy as jnp

    from mbrlax.envs.gym_adapter import make_env

    exp = tiny()
    spec = make_env("Pendulum-v1").spec
    assert exp.agent.exploration_bonus == 0.0  # off by default
    agent = dataclasses.replace(exp.agent, learn_reward=True, exploration_bonus=2.5)
    learned = dataclasses.replace(exp, agent=agent).make_agent(spec)
    for bad in (-1.0, float("nan"), None):
        with pytest.raises(ValueError, match="exploration_bonus must be >= 0"):
            PETSConfig(exploration_bonus=bad)
    # Evaluation plans on the reward alone; training adds the members' disagreement, weighed
    # by the rewards' spread in the data (none before the first refit: the same plan).
    state = learned.init(jax.random.key(0))
    obs, key = jnp.array([1.0, 0.0, 0.0]), jax.random.key(1)
    same = [learned.act(state, obs, key)[0], learned.act_eval(state, obs, key)[0]]
    np.testing.assert_array_equal(*same)
    state = state._replace(reward_scale=jnp.float32(100.0))
    train_plan, _, _ = learned.act(state, obs, key)
    eval_plan, _, _ = learned.act_eval(state, obs, key)
    assert not np.allclose(train_plan, eval_plan)
    # Without a bonus (the default) training and evaluation plan alike.
    plain = exp.make_agent(spec)
    state = plain.init(jax.random.key(0))._replace(reward_scale=jnp.float32(100.0))
    np.testing.assert_array_equal(plain.act(state, obs, key)[0], plain.act_eval(state, obs, key)[0])


@pytest.mark.slow
def test_pets_learns_pendulum():
    exp = PETSExperiment.preset("Pendulum-v1", seed=0)
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, progress=False))
    rows = run(exp, save=False).rows
    # A random policy scores about -1200; the target (README table) is >= -200 by episode 10.
    assert np.mean([r["eval_return"] for r in rows[-3:]]) >= -200, [r["eval_return"] for r in rows]


@pytest.mark.slow
def test_pets_swings_up_the_cartpole():
    """The PETS cart-pole swing-up preset: >= 170 by episode 15 (README: 3 seeds, worst 175.6);
    the last three evaluations average at least 160 (doing nothing earns about 0)."""
    exp = PETSExperiment.preset("mbrlax/CartpoleSwingup-v0", seed=0)
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, progress=False))
    evals = [r["eval_return"] for r in run(exp, save=False).rows]
    assert max(evals[-3:]) >= 170, evals
    assert np.mean(evals[-3:]) >= 160, evals
