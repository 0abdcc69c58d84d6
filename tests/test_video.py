"""MP4 recording of evaluation episodes: same episode as run_episode, atomic files, clear errors."""

import importlib.util
import sys
import warnings

import numpy as np
import pytest
from conftest import read_video

from mbrlax.analysis.video import make_recording_env, record_episode, save_frames_mp4
from mbrlax.envs import make_env
from mbrlax.envs.base import EnvError
from mbrlax.training.loop import run_episode


def damping_policy(obs):
    """Torque against the angular velocity (``obs[2]`` for both pendulums): depends on obs, so a
    recording that changed the episode would change the return."""
    return np.clip(-obs[2:3], -2.0, 2.0).astype(np.float32)


@pytest.mark.parametrize(
    "env_id, max_steps, fps, side",
    [("mbrlax/Pendulum-v0", None, 20, 200), ("Pendulum-v1", 25, 30, 500)],
    ids=["jax-native", "gymnasium"],
)
def test_record_matches_run_episode(tmp_path, env_id, max_steps, fps, side):
    path = tmp_path / "eval.mp4"
    env = make_recording_env(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ret, length = record_episode(env, damping_policy, seed=3, path=path, max_steps=max_steps)
    assert not [w for w in caught if "fork" in str(w.message)]  # ffmpeg spawned without preexec

    assert (ret, length) == run_episode(make_env(env_id), damping_policy, 3, max_steps=max_steps)
    assert length == (max_steps or 200)
    frames, read_fps = read_video(path)
    assert frames.shape == (length + 1, side, side, 3)
    assert read_fps == fps  # from env metadata["render_fps"]
    # The first frame is the env's frame after reset (up to H.264 loss), and the pendulum moves.
    env.reset(seed=3)
    first = np.asarray(env.render(), dtype=np.float32)
    assert np.abs(frames[0].astype(np.float32) - first).mean() < 3.0
    assert np.abs(frames[-1].astype(np.float32) - frames[0]).mean() > 0.5
    assert [p.name for p in tmp_path.iterdir()] == ["eval.mp4"]  # no temp file left


def test_odd_frames_are_padded_and_fps_override(tmp_path, monkeypatch):
    env = make_recording_env("mbrlax/Pendulum-v0")
    monkeypatch.setattr(env, "render", lambda: np.full((101, 75, 3), 200, np.uint8))
    path = tmp_path / "odd.mp4"
    _, length = record_episode(env, damping_policy, 0, path, fps=12, max_steps=4)
    frames, fps = read_video(path)
    assert frames.shape == (length + 1, 102, 76, 3)
    assert fps == 12


def test_env_without_render_mode_raises_and_writes_nothing(tmp_path):
    with pytest.raises(EnvError, match=r"render_mode='rgb_array'"):
        record_episode(make_env("mbrlax/Pendulum-v0"), damping_policy, 0, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_render_returning_none_raises_and_writes_nothing(tmp_path, monkeypatch):
    env = make_recording_env("Pendulum-v1")
    monkeypatch.setattr(env, "render", lambda: None)
    with pytest.raises(EnvError, match=r"returned None.*render_mode='rgb_array'"):
        record_episode(env, damping_policy, 0, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_keeps_old_file(tmp_path):
    path = tmp_path / "eval.mp4"
    path.write_bytes(b"an older video")
    calls = 0

    def failing_policy(obs):
        nonlocal calls
        calls += 1
        if calls == 5:
            raise RuntimeError("policy blew up")
        return damping_policy(obs)

    env = make_recording_env("mbrlax/Pendulum-v0")
    with pytest.raises(RuntimeError, match="policy blew up"):
        record_episode(env, failing_policy, 0, path)
    assert path.read_bytes() == b"an older video"
    assert list(tmp_path.iterdir()) == [path]

    # A complete recording does replace it.
    _, length = record_episode(env, damping_policy, 0, path, max_steps=3)
    assert read_video(path)[0].shape[0] == length + 1


def test_missing_imageio_ffmpeg_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes `import` raise ImportError
    with pytest.raises(ImportError, match=r"pip install .*imageio-ffmpeg"):
        record_episode(make_recording_env("mbrlax/Pendulum-v0"), damping_policy, 0, tmp_path / "v")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        record_episode(
            make_recording_env("mbrlax/Pendulum-v0"), damping_policy, 0, tmp_path / "a/b"
        )


NO_EGL = (
    "Unable to load EGL library",  # PyOpenGL: no libEGL on the machine
    "eglQueryDevicesEXT is not available",  # mujoco.egl: the EGL driver cannot list devices
    "eglGetPlatformDisplayEXT is not available",
    "Cannot initialize a EGL device display",  # mujoco.egl: no GPU or no driver for it
    "EGL failed to find a framebuffer configuration",  # a device that cannot render offscreen
    "Cannot create an EGL context",
)
"""How mujoco.egl and PyOpenGL say that this machine has no headless EGL rendering."""


def egl_unavailable() -> str | None:
    """Why MuJoCo cannot open a headless EGL context on this machine, or None if it can.

    Only the failures that mean "no EGL here" count; any other error is raised, and fails the
    test that asked.
    """
    try:
        from mujoco.egl import GLContext

        GLContext(64, 64).free()
    except (ImportError, RuntimeError) as e:
        if e.args and str(e.args[0]).startswith(NO_EGL):
            return repr(e)
        raise
    return None


@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="MuJoCo not installed")
def test_record_mujoco_headless(tmp_path, monkeypatch):
    # Gymnasium reads MUJOCO_GL when it creates the renderer, i.e. at the first render().
    monkeypatch.setenv("MUJOCO_GL", "egl")
    if (why := egl_unavailable()) is not None:
        pytest.skip(f"no headless EGL rendering on this machine: {why}")
    env = make_recording_env("InvertedPendulum-v5")

    def policy(obs):
        return np.zeros(1, np.float32)

    path = tmp_path / "mujoco.mp4"
    ret, length = record_episode(env, policy, seed=1, path=path, max_steps=10)
    assert (ret, length) == run_episode(make_env("InvertedPendulum-v5"), policy, 1, max_steps=10)
    frames, fps = read_video(path)
    assert frames.shape == (length + 1, 480, 480, 3)
    assert fps == 25
    assert frames.std() > 1.0  # not a blank frame
    env.close()


def test_frame_size_change_raises_and_writes_nothing(tmp_path, monkeypatch):
    env = make_recording_env("mbrlax/Pendulum-v0")
    sizes = iter([(40, 40, 3), (40, 40, 3), (42, 40, 3)])
    monkeypatch.setattr(env, "render", lambda: np.zeros(next(sizes), np.uint8))
    with pytest.raises(EnvError, match="changed frame size"):
        record_episode(env, damping_policy, 0, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_runner_records_evaluations_without_changing_them(tmp_path):
    import dataclasses

    from mbrlax.agents.pets import PETSConfig
    from mbrlax.models.ensemble import EnsembleConfig
    from mbrlax.planners import CEM
    from mbrlax.training.experiment import PETSExperiment, run
    from mbrlax.training.loop import RunnerConfig

    exp = PETSExperiment(
        env="mbrlax/Pendulum-v0",
        seed=1,
        agent=PETSConfig(
            model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(8,), max_epochs=2),
            planner=CEM(horizon=3, population=8, num_elites=2, iterations=1),
            num_particles=2,
        ),
        runner=RunnerConfig(episodes=3, warmup_steps=200, video_every=2, progress=False),
    )
    with_video = run(dataclasses.replace(exp, run_dir=tmp_path / "v"))
    plain = run(exp, save=False)  # no run directory, so no video env either
    # Evaluations 2 and 3 (every 2nd, and the last) are recorded; the returns are the same.
    videos = sorted(p.name for p in (tmp_path / "v" / "videos").iterdir())
    assert videos == ["eval-00000400.mp4", "eval-00000600.mp4"]
    assert [r["eval_return"] for r in with_video.rows] == [r["eval_return"] for r in plain.rows]


def test_frames_are_saved_as_a_video_atomically(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    frames[:, :, :24] = rng.integers(0, 256, 3, np.uint8)  # flat colours: lossless enough
    frames[3:, :, 24:] = 255
    path = save_frames_mp4(frames, tmp_path / "clip.mp4", fps=5)
    got, fps = read_video(path)
    assert got.shape == frames.shape and fps == 5
    assert np.abs(got.astype(int) - frames).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no partial file left
    with pytest.raises(ValueError, match="one size"):
        save_frames_mp4([frames[0], frames[0, :16]], tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match="no frames"):
        save_frames_mp4([], tmp_path / "clip.mp4")
    assert read_video(path)[0].shape == frames.shape  # the failed calls left it untouched
