"""DeepMind Control suite tasks through the adapter: ``dmc/DOMAIN-TASK`` ids, the flattened
observation in the suite's key order, action repeat, seeding, the time limit, clear errors, and
a run through the runner."""

import os

import numpy as np
import pytest

pytest.importorskip("dm_control")

from dm_control import suite  # noqa: E402

from mbrlax.envs import EnvError, check_env, list_dmc_tasks, make_env  # noqa: E402
from mbrlax.envs.dmc import parse_dmc_id  # noqa: E402


def test_the_spec_of_a_task_is_the_suites():
    env = make_env("dmc/cartpole-swingup")
    spec = env.spec
    assert spec.env_id == "dmc/cartpole-swingup"
    assert spec.obs_shape == (5,)  # position (cart x, cos, sin), velocity (2)
    assert (spec.action_shape, spec.action_low, spec.action_high) == ((1,), (-1.0,), (1.0,))
    assert spec.max_episode_steps == 1000
    assert make_env("dmc/cartpole-swingup?action_repeat=2").spec.max_episode_steps == 500
    assert "dmc/cheetah-run" in list_dmc_tasks() and "dmc/ball_in_cup-catch" in list_dmc_tasks()


def test_the_observation_is_the_suites_dict_flattened_in_its_key_order():
    # walker: orientations [14], height [], velocity [9]: a scalar among vectors.
    env = make_env("dmc/walker-walk")
    obs, _ = env.reset(seed=3)
    raw = suite.load("walker", "walk", task_kwargs={"random": np.random.RandomState(3)})
    expected = np.concatenate(
        [np.asarray(v, np.float32).reshape(-1) for v in raw.reset().observation.values()]
    )
    assert list(raw.observation_spec()) == ["orientations", "height", "velocity"]
    assert obs.dtype == np.float32 and obs.shape == (24,)
    np.testing.assert_array_equal(obs, expected)


def test_same_seed_same_episode_and_seeds_differ():
    def episode(seed):
        env = make_env("dmc/cartpole-swingup")
        obs, _ = env.reset(seed=seed)
        rows = [obs]
        for t in range(20):
            obs, reward, *_ = env.step(np.array([np.sin(t)], np.float32))
            rows.append(np.append(obs, reward))
        return rows

    a, b, c = episode(0), episode(0), episode(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_action_repeat_sums_the_rewards_of_the_repeated_steps():
    once = make_env("dmc/cartpole-swingup")
    twice = make_env("dmc/cartpole-swingup?action_repeat=2")
    once.reset(seed=5)
    twice.reset(seed=5)
    for t in range(10):
        action = np.array([0.7 * np.cos(t)], np.float32)
        _, first, *_ = once.step(action)
        obs1, second, *_ = once.step(action)
        obs2, r2, *_ = twice.step(action)
        assert r2 == pytest.approx(first + second, abs=1e-12)
        np.testing.assert_array_equal(obs2, obs1)


def test_an_episode_ends_truncated_at_the_time_limit():
    env = make_env("dmc/cartpole-balance?action_repeat=8")
    env.reset(seed=0)
    ends = []
    for _ in range(125):
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        ends.append((terminated, truncated))
    assert ends[-1] == (False, True) and not any(t or u for t, u in ends[:-1])


@pytest.mark.parametrize(
    "bad, match",
    [
        ("dmc/cartpole-swingupp", "Unknown DeepMind Control task.*Did you mean.*cartpole-swingup"),
        ("dmc/cartpole", "write DeepMind Control ids as dmc/DOMAIN-TASK"),
        ("dmc/cartpole-swingup?repeat=2", "unknown option 'repeat'.*action_repeat"),
        ("dmc/cartpole-swingup?action_repeat=two", "action_repeat must be an integer"),
        ("dmc/cartpole-swingup?action_repeat=0", "action_repeat must be >= 1"),
    ],
)
def test_bad_ids_say_what_to_write(bad, match):
    with pytest.raises(EnvError, match=match):
        make_env(bad)


def test_parse_and_check():
    assert parse_dmc_id("dmc/ball_in_cup-catch?action_repeat=4") == (
        "ball_in_cup",
        "catch",
        {"action_repeat": 4},
    )
    problems = check_env(make_env("dmc/cartpole-swingup").env)
    assert any("learn the reward" in p for p in problems)  # no task functions: learned


def test_renders_frames_headless():
    env = make_env("dmc/cartpole-swingup", render_mode="rgb_array", render_size=32)
    env.reset(seed=0)
    frame = env.env.render()
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_sac_trains_on_a_dmc_task_through_the_runner(tmp_path):
    import mbrlax

    result = mbrlax.train(
        "sac", env="dmc/cartpole-balance?action_repeat=8", episodes=2, warmup_steps=125,
        updates_per_step=1, batch_size=32, hidden_sizes=(32, 32), progress=False,
        run_dir=tmp_path / "sac",
    )  # fmt: skip
    assert [r["env_steps"] for r in result.rows] == [125, 250]
    assert all(np.isfinite(r["eval_return"]) for r in result.rows)
    assert (tmp_path / "sac" / "checkpoints").is_dir()


def test_a_run_directory_named_after_an_id_with_options_is_a_plain_name():
    from mbrlax.training.experiment import default_run_dir

    name = default_run_dir("sac", "dmc/cartpole-swingup?action_repeat=2", 0).name
    assert name.startswith("sac-dmc_cartpole-swingup_action_repeat_2-seed0-")


def test_a_frame_that_cannot_be_rendered_says_how_to_render_headless(monkeypatch):
    # What MuJoCo raises without MUJOCO_GL=egl on a machine without a display.
    env = make_env("dmc/cartpole-swingup?pixels=16").env.unwrapped

    def no_context(*args, **kwargs):
        raise RuntimeError("an OpenGL platform library has not been loaded into this process")

    monkeypatch.setattr(env._env.physics, "render", no_context)
    with pytest.raises(EnvError, match="set MUJOCO_GL=egl .* before starting Python"):
        env.reset(seed=0)


def test_the_mbrlax_command_renders_headless_unless_told_otherwise(monkeypatch):
    from mbrlax.cli import headless_rendering

    for display, chosen, expected in [
        (None, None, "egl"),  # no display, no choice: EGL
        (None, "osmesa", "osmesa"),  # the user's choice stays
        (":0", None, None),  # a display: MuJoCo's own default
    ]:
        for name, value in (("DISPLAY", display), ("MUJOCO_GL", chosen)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        headless_rendering()
        assert os.environ.get("MUJOCO_GL") == expected
