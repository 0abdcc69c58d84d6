"""PlaNet: CEM in the latent space of an RSSM, through the runner: it learns a user's env with
its reward learned (fast learning test), resumes exactly mid-episode, and refuses what it cannot
do with a message that says what to do."""

import dataclasses

import numpy as np
import pytest
import user_envs  # noqa: F401  (registers user_envs:PointReach-v0)
from conftest import resumed_from_oldest_checkpoint

from mbrlax.agents.planet import PlaNet, PlaNetConfig
from mbrlax.envs import make_env
from mbrlax.models.rssm import RSSMConfig
from mbrlax.planners import CEM
from mbrlax.training.experiment import EXPERIMENTS, run

SMALL = PlaNetConfig(
    model=RSSMConfig(deter=64, stoch=8, classes=8, units=64, layers=1, learning_rate=1e-3),
    planner=CEM(horizon=10, population=100, num_elites=10, iterations=4),
    train_steps=100,
    batch_size=16,
    batch_length=16,
)


def _experiment(env, agent=SMALL, **runner):
    exp = EXPERIMENTS["planet"].preset(env, seed=0)
    return dataclasses.replace(
        exp, agent=agent, runner=dataclasses.replace(exp.runner, progress=False, **runner)
    )


def test_planet_learns_a_users_env_with_a_learned_reward():
    # tests/user_envs.py's PointReach: doing nothing earns about -47, random steering about
    # -55, the straight path to the goal about -5; two random episodes, then six planned.
    exp = _experiment("user_envs:PointReach-v0", episodes=8, warmup_steps=100, eval_episodes=0)
    rows = run(exp, save=False).rows
    assert all(np.isfinite(r["agent/loss"]) for r in rows)
    assert max(r["train_return"] for r in rows[:2]) < -40  # random
    assert max(r["train_return"] for r in rows[-2:]) > -25


def test_runs_through_the_runner_and_resumes_exactly(tmp_path):
    tiny = PlaNetConfig(
        model=RSSMConfig(deter=16, stoch=4, classes=4, units=16, layers=1),
        planner=CEM(horizon=4, population=8, num_elites=2, iterations=2),
        train_steps=3,
        batch_size=4,
        batch_length=8,
    )
    exp = dataclasses.replace(
        _experiment(
            "mbrlax/Pendulum-v0",
            tiny,
            episodes=3,
            warmup_steps=200,
            checkpoint_every=150,
            eval_every=3,
        ),
        run_dir=tmp_path / "full",
    )
    full = run(exp)
    assert [r["env_steps"] for r in full.rows] == [200, 400, 600]
    # Checkpoints at 150, 300, 450, 600, the last 3 kept: resumed from 300, mid-episode 2.
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    columns = ("env_steps", "train_return", "eval_return", "agent/loss", "agent/obs_loss")
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]


def test_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="Discrete actions.*muzero"):
        PlaNet(SMALL, make_env("CartPole-v1").spec)
    with pytest.raises(ValueError, match="raise --warmup-steps to at least 16"):
        _experiment("mbrlax/Pendulum-v0", warmup_steps=10).check()
    with pytest.raises(ValueError, match="train_steps must be >= 1"):
        PlaNetConfig(train_steps=0)
