"""The runner's loop: warm-up, refits, evaluation rows, run directory."""

import csv
import struct
from pathlib import Path

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.analysis.compare import load_run
from mbrlax.analysis.plotting import plot_learning_curves
from mbrlax.envs import make_env
from mbrlax.errors import TrainingError
from mbrlax.training.logger import RunDirError, read_metrics
from mbrlax.training.loop import RunnerConfig, train


class CountingAgent:
    """Always pushes with +1 torque; counts what the runner asks of it."""

    def __init__(self):
        self.updates, self.acts, self.episodes, self.sizes = 0, 0, 0, []

    def init(self, key):
        return jnp.zeros(())

    def begin_episode(self, state):
        self.episodes += 1
        return state

    def act(self, state, obs, key):
        self.acts += 1
        return jnp.ones(1), state + 1, {}

    def update(self, state, buffer, key):
        self.updates += 1
        self.sizes.append(int(buffer.size))
        return state, {"train_loss": jnp.float32(0.5)}


def test_warmup_refit_and_eval_schedule():
    agent = CountingAgent()
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    cfg = RunnerConfig(
        episodes=3, warmup_steps=250, refit_every=100, eval_episodes=2, eval_every=2, progress=False
    )
    result = train(agent, env, eval_env, cfg, seed=0)
    # Refits every 100 steps once warm-up is over: at 300, 400, 500, 600.
    assert agent.sizes == [300, 400, 500, 600]
    # The agent acts after the warm-up (600 - 250 steps) and in 2 x 2 eval episodes.
    assert agent.acts == 350 + 4 * 200
    assert [r["env_steps"] for r in result.rows] == [200, 400, 600]
    has_eval = [np.isfinite(r.get("eval_return", np.nan)) for r in result.rows]
    assert has_eval == [False, True, True]  # every 2nd episode, and always after the last
    assert result.buffer.size == 600


def test_refit_once_per_episode_by_default_and_run_dir(tmp_path):
    agent = CountingAgent()
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    cfg = RunnerConfig(episodes=2, warmup_steps=200, eval_episodes=1, progress=False)
    train(agent, env, eval_env, cfg, seed=0, run_dir=tmp_path / "r", run_config={"env": "P"})
    assert agent.sizes == [200, 400]
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"env_steps", "episode", "train_return", "eval_return", "wall_seconds"} <= set(rows[0])
    assert float(rows[0]["agent/train_loss"]) == 0.5
    with pytest.raises(RunDirError, match="already holds a run"):
        train(CountingAgent(), env, eval_env, cfg, seed=0, run_dir=tmp_path / "r")


def test_same_seed_same_env_episodes():
    env = make_env("Pendulum-v1")
    cfg = RunnerConfig(episodes=2, warmup_steps=200, eval_episodes=0, progress=False)
    a = train(CountingAgent(), env, None, cfg, seed=7).rows
    b = train(CountingAgent(), env, None, cfg, seed=7).rows
    c = train(CountingAgent(), env, None, cfg, seed=8).rows
    assert [r["train_return"] for r in a] == [r["train_return"] for r in b]
    assert a[0]["train_return"] != c[0]["train_return"]


def test_bad_runner_config():
    with pytest.raises(ValueError, match="episodes"):
        RunnerConfig(episodes=0)


class _StayOrLeave(gymnasium.Env):
    """No time limit: action 1 ends the episode, action 0 stays (reward 1 per step)."""

    observation_space = gymnasium.spaces.Discrete(2)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 1.0, int(action) == 1, False, {}


class _LoopsWhenGreedy(CountingAgent):
    """Leaves at once in training; its greedy evaluation policy stays forever."""

    def act(self, state, obs, key):
        return jnp.int32(1), state, {}

    def act_eval(self, state, obs, key):
        return jnp.int32(0), state, {}


def test_an_evaluation_that_never_ends_is_cut_at_the_step_limit():
    from mbrlax.training.loop import EVAL_STEP_LIMIT

    env, eval_env = make_env(_StayOrLeave()), make_env(_StayOrLeave())
    assert env.spec.max_episode_steps is None
    cfg = RunnerConfig(episodes=1, warmup_steps=0, refit_every=1, eval_episodes=1, progress=False)
    result = train(_LoopsWhenGreedy(), env, eval_env, cfg, seed=0)
    assert result.rows[0]["train_return"] == 1.0
    assert result.rows[0]["eval_return"] == float(EVAL_STEP_LIMIT)


def test_a_warmup_that_covers_the_whole_run_is_refused_before_anything_is_written(tmp_path):
    env = make_env("Pendulum-v1")  # episodes of 200 steps
    # The run ends with the episode that reaches 300 steps: by step 300 + 199 at the latest.
    cfg = RunnerConfig(episodes=100, total_steps=300, warmup_steps=500, progress=False)
    agent = CountingAgent()
    with pytest.raises(ValueError) as e:
        train(agent, env, None, cfg, seed=0, run_dir=tmp_path / "r")
    said = str(e.value)
    assert "--warmup-steps 500 covers the whole run" in said
    assert "--total-steps 300, within 499 env steps" in said
    assert "Lower --warmup-steps below 300, or raise --total-steps or --episodes" in said
    assert not (tmp_path / "r").exists()
    assert (agent.acts, agent.updates) == (0, 0)

    cfg = RunnerConfig(episodes=2, warmup_steps=400, progress=False)
    with pytest.raises(ValueError, match="its 2 episodes of Pendulum-v1 take at most 400 env"):
        train(agent, env, None, cfg, seed=0)


def test_a_warmup_one_step_short_of_the_run_lets_the_agent_act_once():
    agent = CountingAgent()
    cfg = RunnerConfig(episodes=2, warmup_steps=399, eval_episodes=0, progress=False)
    train(agent, make_env("Pendulum-v1"), None, cfg, seed=0)
    assert agent.acts == 1  # the run's last step


def test_an_env_without_time_limit_is_not_refused_for_its_warmup():
    # Its episodes may be longer than any bound, so the agent may yet act.
    env = make_env(_StayOrLeave())
    cfg = RunnerConfig(episodes=1, warmup_steps=5000, eval_episodes=0, progress=False)
    assert len(train(CountingAgent(), env, None, cfg, seed=0).rows) == 1


class ReportingAgent(CountingAgent):
    """Reports a metric of its own from its second update on, and a NaN one when told to."""

    def __init__(self, nan_metric: str | None = None):
        super().__init__()
        self.nan_metric = nan_metric

    def update(self, state, buffer, key):
        state, metrics = super().update(state, buffer, key)
        if self.updates >= 2:
            metrics["value_loss"] = jnp.float32(self.updates)
        if self.nan_metric:
            metrics[self.nan_metric] = jnp.float32(jnp.nan)
        return state, metrics


def event_tags(path: Path) -> set[str]:
    """The tags of the scalars in a TensorBoard events file (TFRecord frames: an 8-byte length,
    its 4-byte CRC, the ``Event`` proto, its 4-byte CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    data, i, tags = path.read_bytes(), 0, set()
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        tags |= {v.tag for v in Event.FromString(data[i + 12 : i + 12 + n]).summary.value}
        i += 12 + n + 4
    return tags


def test_every_metric_an_agent_reports_gets_its_own_column(tmp_path):
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    cfg = RunnerConfig(episodes=3, warmup_steps=200, eval_episodes=1, progress=False)
    train(ReportingAgent(), env, eval_env, cfg, seed=0, run_dir=tmp_path / "r")
    rows = read_metrics(tmp_path / "r")
    assert [r["agent/train_loss"] for r in rows] == [0.5, 0.5, 0.5]
    # First reported after the second episode: the column is added, empty before.
    assert np.isnan(rows[0]["agent/value_loss"]) and [r["agent/value_loss"] for r in rows[1:]] == [
        2.0,
        3.0,
    ]
    with open(tmp_path / "r" / "metrics.csv") as f:
        header = f.readline().strip().split(",")
    assert header[-2:] == ["agent/train_loss", "agent/value_loss"]
    tags = {tag for path in (tmp_path / "r" / "tensorboard").iterdir() for tag in event_tags(path)}
    assert {"agent/train_loss", "agent/value_loss", "eval_return"} <= tags


def test_a_non_finite_metric_of_any_name_stops_the_run(tmp_path):
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    cfg = RunnerConfig(episodes=2, warmup_steps=200, eval_episodes=0, progress=False)
    with pytest.raises(TrainingError, match="gave alpha=nan; the run stopped"):
        train(ReportingAgent("alpha"), env, eval_env, cfg, seed=0, run_dir=tmp_path / "r")


def test_compare_and_plot_read_run_directories_from_before_agent_columns(tmp_path):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"algo": "pets", "env": "Pendulum-v1", "seed": 0}')
    (run_dir / "metrics.csv").write_text(
        "env_steps,episode,train_return,eval_return,eval_return_std,train_episode_length,"
        "model_train_loss,model_val_mse,model_epochs,critic_loss,actor_loss,alpha,entropy,"
        "act_ms,wall_seconds\n"
        "200,1,-1500.0,-1400.0,0.0,200,0.5,0.2,10,,,,,40.0,12.0\n"
        "400,2,-900.0,-300.0,0.0,200,0.3,0.1,12,,,,,41.0,25.0\n"
    )
    run = load_run(run_dir)
    assert list(run.eval_return) == [-1400.0, -300.0] and list(run.env_steps) == [200, 400]
    out = plot_learning_curves([run_dir], tmp_path / "curve.png")
    assert Path(out).stat().st_size > 0
