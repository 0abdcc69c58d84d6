"""The learning tier: each agent family learns a tiny task far beyond a random policy, fast
enough for every test run (< 60 s each on 2 cores). The longer learning claims of the README
are the ``slow`` tests beside each agent's own tests.

Envs a user would write (no preset, no registered task) are in ``tests/user_envs.py``.
Families tested elsewhere in the default run: PETS (``test_pets.py``: a user's env with a
learned reward), MPC (``test_mpc.py``: swings the pendulum up through its JAX twin), Dyna
(``test_dyna_agent.py``: CliffWalking's optimal path), PILCO (``test_pilco.py``: an
improvement raises the real return of the swing-up).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mbrlax.agents.mbpo import MBPOConfig
from mbrlax.agents.mbpo.rollout import RolloutSchedule
from mbrlax.agents.sac import SACConfig
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.training.experiment import (
    AlphaZeroExperiment,
    MBPOExperiment,
    MuZeroExperiment,
    SACExperiment,
    run,
)
from mbrlax.training.loop import RunnerConfig


def evals(rows) -> list[float]:
    return [r["eval_return"] for r in rows if np.isfinite(r.get("eval_return", np.nan))]


def test_sac_learns_a_users_env():
    # tests/user_envs.py's PointReach: steer a point to a goal it does not see (50 steps).
    exp = SACExperiment.preset("user_envs:PointReach-v0", seed=0)
    runner = RunnerConfig(
        episodes=40, warmup_steps=500, refit_every=1, eval_episodes=2, eval_every=10,
        progress=False,
    )  # fmt: skip
    rows = run(dataclasses.replace(exp, runner=runner), save=False).rows
    # Doing nothing earns about -47, random steering about -55, the straight path about -5.
    assert evals(rows)[-1] > -20


def test_mbpo_learns_a_users_env_with_a_learned_reward():
    # The same env, whose reward MBPO must learn: SAC on 1-step model rollouts, 10 updates a
    # step, refits every 100 steps.
    exp = MBPOExperiment.preset("user_envs:PointReach-v0", seed=0)
    agent = MBPOConfig(
        model=EnsembleConfig(num_members=5, num_elites=4, hidden_sizes=(64, 64), max_updates=500),
        sac=SACConfig(hidden_sizes=(64, 64), batch_size=128, updates_per_step=10),
        model_train_every=100,
        epoch_length=100,
        rollout_schedule=RolloutSchedule(1, 10, 1, 1),
        rollout_batch_size=2000,
    )
    runner = RunnerConfig(
        episodes=20, warmup_steps=200, refit_every=1, eval_episodes=2, eval_every=5,
        progress=False,
    )  # fmt: skip
    rows = run(dataclasses.replace(exp, agent=agent, runner=runner), save=False).rows
    assert evals(rows)[-1] > -20


def test_alphazero_learns_catch():
    # bsuite's catch: a ball falls 9 rows, the paddle earns +1 for catching it, -1 for a miss
    # (random: about -0.6). The search through the true model cannot see the ball land from
    # the top rows: until the network's values learn it, it does little better than random.
    exp = AlphaZeroExperiment.preset("mbrlax/Catch-v0", seed=0)
    agent = dataclasses.replace(exp.agent, hidden_sizes=(32, 32))
    runner = dataclasses.replace(
        exp.runner, episodes=50, eval_episodes=20, eval_every=10, progress=False
    )
    rows = run(dataclasses.replace(exp, agent=agent, runner=runner), save=False).rows
    returns = evals(rows)
    assert returns[0] < 0.5  # after the warm-up's 10 random episodes: an untrained network
    assert min(returns[-2:]) >= 0.8, returns


def test_muzero_learns_a_users_corridor():
    # tests/user_envs.py's ChainWalk: walk to the end of a corridor that the observation names
    # (-1 a step; shortest -3, always one way about -11.5, random about -15), through a model
    # MuZero learns. value_scale is the size of the returns, as MuZeroConfig says.
    exp = MuZeroExperiment.preset("user_envs:ChainWalk-v0", seed=0)
    agent = dataclasses.replace(
        exp.agent, hidden_sizes=(32, 32), latent_dim=32, updates_per_step=2, value_scale=10.0
    )
    runner = dataclasses.replace(
        exp.runner, episodes=60, total_steps=0, warmup_steps=20, eval_episodes=10,
        eval_every=12, progress=False,
    )  # fmt: skip
    rows = run(dataclasses.replace(exp, agent=agent, runner=runner), save=False).rows
    assert evals(rows)[-2:] == [-3.0, -3.0], evals(rows)
