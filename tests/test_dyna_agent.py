"""Tabular Dyna through the runner and the CLI (`mbrlax.agents.dyna.agent`): Gymnasium
toy-text envs, the mazes, exact resume, and many runs as one compiled computation."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

from mbrlax.agents.dyna import DynaQ, PrioritizedSweeping
from mbrlax.agents.dyna.agent import DynaAgent
from mbrlax.agents.dyna.presets import DYNA_RUNNER
from mbrlax.analysis.compare import load_run
from mbrlax.cli import main
from mbrlax.envs import make_env, make_jax_env
from mbrlax.training.checkpoint import CheckpointManager
from mbrlax.training.experiment import DynaExperiment, evaluate, resume, run, run_many
from mbrlax.training.loop import train
from mbrlax.training.scan_loop import compiled_runs

COLUMNS = ("env_steps", "episode", "train_return", "train_episode_length")


def _rows(result):
    return [[r[c] for c in COLUMNS] for r in result.rows]


@pytest.mark.parametrize(
    ("env_id", "kwargs", "config"),
    [
        ("mbrlax/DynaMaze-v0", {}, DynaQ(planning_steps=5)),
        # Walls move at step 300, inside episode 1 or 2: the clock must carry over episodes.
        (
            "mbrlax/BlockingMaze-v0",
            {"change_at": 300},
            DynaQ(alpha=1.0, planning_steps=10, kappa=1e-3, model="stochastic"),
        ),
        ("mbrlax/ShortcutMaze-v0", {"change_at": 200}, PrioritizedSweeping()),
    ],
)
def test_compiled_runs_replay_the_runner_seed_by_seed(env_id, kwargs, config):
    """One vmapped computation gives each seed the episodes the host runner gives it."""
    runner = dataclasses.replace(DYNA_RUNNER, episodes=6, progress=False)
    jax_env = make_jax_env(env_id, **kwargs)
    agent = DynaAgent(config, jax_env.spec)
    out = compiled_runs(agent, jax_env, runner, [0, 1])
    for i, seed in enumerate([0, 1]):
        result = train(agent, make_env(env_id, **kwargs), None, runner, seed)
        lengths = [r["train_episode_length"] for r in result.rows]
        np.testing.assert_array_equal(out.episode_length[i], lengths)
        np.testing.assert_array_equal(out.env_steps[i], [r["env_steps"] for r in result.rows])
        # The same updates; XLA may round a fused update differently in the last bit.
        np.testing.assert_allclose(out.agent.q[i], result.agent_state.q, atol=1e-6)
    assert not np.array_equal(out.episode_length[0], out.episode_length[1])


def test_cliff_walking_learns_the_optimal_path_and_eval_is_greedy(tmp_path):
    """CliffWalking-v1: the shortest path along the cliff returns -13 (13 steps of -1)."""
    exp = DynaExperiment.preset("CliffWalking-v1", run_dir=tmp_path / "run")
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, episodes=40))
    result = run(exp, on_row=None)
    assert result.rows[-1]["eval_return"] == -13.0
    assert result.rows[0]["train_return"] < -13.0  # it did have to learn
    assert evaluate(tmp_path / "run", episodes=3) == [-13.0, -13.0, -13.0]


def test_frozen_lake_with_a_count_based_model_beats_random(tmp_path):
    """Slippery FrozenLake: the greedy policy of the stochastic-model agent reaches the goal
    far more often than a random walk (about 1.5%; the optimal policy about 74%)."""
    exp = DynaExperiment.preset("FrozenLake-v1", run_dir=tmp_path / "run")
    exp = dataclasses.replace(
        exp,
        runner=dataclasses.replace(exp.runner, episodes=300, eval_every=300, eval_episodes=50),
    )
    assert exp.agent.model == "stochastic"
    result = run(exp)
    assert result.rows[-1]["eval_return"] >= 0.4


def test_dyna_resumes_exactly_from_a_mid_episode_checkpoint(tmp_path):
    exp = DynaExperiment.preset("mbrlax/DynaMaze-v0", run_dir=tmp_path / "full")
    exp = dataclasses.replace(
        exp, runner=dataclasses.replace(exp.runner, episodes=4, checkpoint_every=300)
    )
    full = run(exp)
    names = [p.name for p in CheckpointManager(tmp_path / "full").paths()]
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "full", killed)
    for p in (killed / "checkpoints").iterdir():
        if p.name > names[0]:
            p.unlink()
    assert int(names[0][5:15]) < full.rows[0]["env_steps"]  # inside episode 1
    assert _rows(resume(killed)) == _rows(full)


def test_blocking_maze_resumes_with_its_clock_from_an_episode_boundary(tmp_path):
    """A checkpoint between episodes keeps the maze's clock, so the walls still move on time."""
    runner = dataclasses.replace(DYNA_RUNNER, episodes=20, checkpoint_every=0, progress=False)
    exp = DynaExperiment(
        env="mbrlax/BlockingMaze-v0", agent=DynaQ(alpha=1.0, planning_steps=10), runner=runner
    )
    full = run(dataclasses.replace(exp, run_dir=tmp_path / "full"))
    before = sum(r["env_steps"] < 1000 for r in full.rows)  # episodes before the walls move
    assert 1 <= before < 20
    short = dataclasses.replace(
        exp, run_dir=tmp_path / "short", runner=dataclasses.replace(runner, episodes=before)
    )
    run(short)  # its last checkpoint is at the end of episode `before`, a boundary
    config = json.loads((tmp_path / "short" / "config.json").read_text())
    config["experiment"]["runner"]["episodes"] = 20  # that run, continued to 20 episodes
    (tmp_path / "short" / "config.json").write_text(json.dumps(config))
    assert _rows(resume(tmp_path / "short")) == _rows(full)


def test_train_dyna_q_runs_many_seeds_as_one_computation(tmp_path, capsys):
    argv = ["train", "dyna-q", "--env", "mbrlax/DynaMaze-v0", "--runs", "3", "--seed", "5"]
    main([*argv, "--episodes", "4", "--run-dir", str(tmp_path / "many")])
    said = capsys.readouterr().out
    assert "3 runs (seeds 5..7) as one compiled computation" in said
    assert (tmp_path / "many" / "learning_curve.png").exists()
    single = run(
        DynaExperiment.preset(
            "mbrlax/DynaMaze-v0",
            seed=6,
            run_dir=tmp_path / "one",
            runner=dataclasses.replace(DYNA_RUNNER, episodes=4, progress=False),
        )
    )
    many = load_run(tmp_path / "many" / "seed6")
    np.testing.assert_array_equal(
        many.episode_length, [r["train_episode_length"] for r in single.rows]
    )
    assert load_run(tmp_path / "many" / "seed6").seed == 6
    # Each seed's folder is a finished run like any other: it can be evaluated.
    assert len(evaluate(tmp_path / "many" / "seed6", episodes=1)) == 1


def test_run_many_refuses_an_occupied_run_dir(tmp_path):
    exp = DynaExperiment.preset(
        "mbrlax/DynaMaze-v0",
        runs=2,
        run_dir=tmp_path / "m",
        runner=dataclasses.replace(DYNA_RUNNER, episodes=2),
    )
    run_many(exp)
    before = (tmp_path / "m" / "seed0" / "metrics.csv").read_text()
    with pytest.raises(Exception, match="already holds a run; nothing was overwritten"):
        run_many(exp)
    assert (tmp_path / "m" / "seed0" / "metrics.csv").read_text() == before


def test_acting_hands_the_state_back_without_copying_the_tables():
    agent = DynaAgent(DynaQ(model="stochastic"), make_env("Taxi-v4").spec)
    state = agent.init(None)
    for act in (agent.act, agent.act_eval):
        action, same, _ = act(state, np.int32(3), jax.random.key(0))
        assert same is state and 0 <= int(action) < 6
