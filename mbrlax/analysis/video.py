"""Evaluation episodes recorded as MP4 videos (H.264, yuv420p: plays in browsers and players).

``record_episode`` plays one episode exactly as :func:`mbrlax.training.loop.run_episode` does and
streams a frame after ``reset`` and after every step into an MP4. The file appears at ``path``
only once it is complete (written next to it, then ``os.replace``-d), so an interrupted
recording never leaves a truncated video, nor clobbers an older one.

MuJoCo envs render headless with ``MUJOCO_GL=egl`` (the Makefile exports it); classic-control
envs draw with pygame off-screen; ``mbrlax/...`` envs with their own numpy rasteriser.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import UInt8

from mbrlax.envs.base import EnvError
from mbrlax.envs.gym_adapter import GymEnv, make_env

__all__ = ["DEFAULT_FPS", "make_recording_env", "record_episode", "save_frames_mp4"]

DEFAULT_FPS = 30
"""Frame rate used when the env's ``metadata["render_fps"]`` does not give one."""

_INSTALL_HINT = (
    "pip install 'imageio>=2.34' 'imageio-ffmpeg>=0.5' (both are dependencies of mbrlax, so "
    "reinstalling it, e.g. `pip install -e .`, also brings them)"
)


def make_recording_env(env_id: str, **kwargs: Any) -> GymEnv:
    """``make_env(env_id, render_mode="rgb_array", **kwargs)``: an env whose frames can be recorded.

    For ``mbrlax/...`` ids the frames are drawn by :class:`~mbrlax.envs.jax_gym.JaxGymEnv`'s
    rasteriser; for Gymnasium ids by the env itself (pygame, or MuJoCo with ``MUJOCO_GL=egl``).
    """
    return make_env(env_id, render_mode="rgb_array", **kwargs)


def record_episode(
    env: GymEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    path: str | os.PathLike[str],
    fps: float | None = None,
    max_steps: int | None = None,
) -> tuple[float, int]:
    """Play one episode and save it as an MP4 at ``path``; returns ``(return, length)``.

    The episode is the one :func:`mbrlax.training.loop.run_episode` plays for the same ``env``,
    ``policy``, ``seed`` and ``max_steps`` (rendering does not touch the env's state or RNG),
    so the returned ``(return, length)`` are identical. The video has ``length + 1`` frames
    (after reset, then after each step), each the env's ``uint8 [H, W, 3]`` frame padded by one
    edge pixel where ``H`` or ``W`` is odd (yuv420p needs even sizes).

    Args:
        env: made with ``render_mode="rgb_array"`` (see :func:`make_recording_env`).
        policy: ``obs float32 [obs_dim] -> action`` (``[A]`` or an int), as for ``run_episode``.
        seed: passed to ``env.reset(seed=seed)``.
        path: where the ``.mp4`` goes; its folder must exist. An existing file is replaced only
            when the new video is complete.
        fps: frames per second; default ``env.env.metadata["render_fps"]``, else ``DEFAULT_FPS``.
        max_steps: stop after this many steps even if the episode has not ended.

    Raises:
        EnvError: the env cannot render ``rgb_array`` frames (nothing is written).
        ImportError: imageio or imageio-ffmpeg is missing (nothing is written).
    """
    _check_can_render(env)
    imageio = _import_imageio()
    fps = _frame_rate(env) if fps is None else float(fps)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot record to {path}: folder {path.parent} does not exist.")
    with _atomic_mp4(path) as tmp, contextlib.closing(_open_writer(imageio, tmp, fps)) as writer:
        shapes: list[tuple[int, ...]] = []

        def film() -> None:
            frame = _grab(env, expected_shape=shapes[0] if shapes else None)
            shapes.append(frame.shape)
            with _spawn_without_preexec():  # ffmpeg starts at the first frame
                writer.append_data(frame)

        return _play(env, policy, seed, max_steps, film)


def save_frames_mp4(
    frames: UInt8[np.ndarray, "T H W 3"] | list[np.ndarray],
    path: str | os.PathLike[str],
    fps: float = 10.0,
) -> Path:
    """Save ``uint8 [H, W, 3]`` frames as an MP4 at ``path`` (atomically: the file appears only
    once complete, an older one is replaced only then); returns the path.

    Raises:
        ValueError: no frames, frames of different sizes, or not uint8 RGB.
        ImportError: imageio or imageio-ffmpeg is missing (nothing is written).
    """
    if len(frames) == 0:
        raise ValueError("no frames to save.")
    shape = np.shape(frames[0])
    if len(shape) != 3 or shape[-1] != 3 or any(np.shape(f) != shape for f in frames):
        raise ValueError(f"frames must all be [H, W, 3] of one size, got {shape} first.")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    imageio = _import_imageio()
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: folder {path.parent} does not exist.")
    with _atomic_mp4(path) as tmp, contextlib.closing(_open_writer(imageio, tmp, fps)) as writer:
        with _spawn_without_preexec():  # ffmpeg starts at the first frame
            for frame in frames:
                writer.append_data(_even_frame(np.asarray(frame, np.uint8)))
    return path


def _play(
    env: GymEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    max_steps: int | None,
    film: Callable[[], None],
) -> tuple[float, int]:
    """``run_episode``'s loop, calling ``film()`` after reset and after every step."""
    obs, _ = env.reset(seed=seed)
    film()
    total, length = 0.0, 0
    while True:
        next_obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        length += 1
        film()
        obs = next_obs
        if terminated or truncated or (max_steps is not None and length >= max_steps):
            return total, length


def _open_writer(imageio: Any, path: Path, fps: float) -> Any:
    """An imageio FFMPEG writer for H.264 in yuv420p, the MP4 every player and browser plays."""
    return imageio.get_writer(
        path,
        format="FFMPEG",
        mode="I",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        macro_block_size=1,  # frames are made even by _even_frame; never rescale them
        ffmpeg_log_level="error",
    )


def _check_can_render(env: GymEnv) -> None:
    mode = getattr(env.env, "render_mode", None)
    if mode != "rgb_array":
        raise EnvError(
            f"{env.spec.env_id} was made with render_mode={mode!r}, so it cannot be recorded; "
            f"make it with make_env({env.spec.env_id!r}, render_mode='rgb_array') "
            "(or mbrlax.analysis.video.make_recording_env)."
        )


def _import_imageio() -> Any:
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg
    except ImportError as e:
        raise ImportError(
            f"Recording videos needs imageio and imageio-ffmpeg: {_INSTALL_HINT}."
        ) from e
    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise ImportError(
            f"imageio-ffmpeg is installed but has no ffmpeg binary for this platform ({e}); "
            f"install ffmpeg on the PATH, or {_INSTALL_HINT}."
        ) from e
    return imageio


def _frame_rate(env: GymEnv) -> float:
    fps = (getattr(env.env, "metadata", None) or {}).get("render_fps")
    return float(fps) if fps else float(DEFAULT_FPS)


def _grab(env: GymEnv, expected_shape: tuple[int, ...] | None) -> UInt8[np.ndarray, "H W 3"]:
    """The env's current frame, checked and made even-sized: ``uint8 [H, W, 3]``."""
    frame = env.render()
    if frame is None:
        raise EnvError(
            f"{env.spec.env_id}.render() returned None, so it cannot be recorded; make it with "
            f"make_env({env.spec.env_id!r}, render_mode='rgb_array')."
        )
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise EnvError(
            f"{env.spec.env_id}.render() returned {frame.dtype} {frame.shape}; recording needs "
            "RGB frames, uint8 [H, W, 3]."
        )
    frame = _even_frame(frame)
    if expected_shape is not None and frame.shape != expected_shape:
        raise EnvError(
            f"{env.spec.env_id}.render() changed frame size mid-episode ({expected_shape} -> "
            f"{frame.shape}); a video needs one size throughout."
        )
    return frame


def _even_frame(frame: UInt8[np.ndarray, "H W 3"]) -> UInt8[np.ndarray, "H2 W2 3"]:
    """Pad an odd height or width by repeating the last row/column (yuv420p halves both)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


@contextlib.contextmanager
def _spawn_without_preexec() -> Iterator[None]:
    """Start ffmpeg without imageio-ffmpeg's ``preexec_fn=os.setpgrp``.

    A ``preexec_fn`` runs Python in the forked child of a process with live JAX threads, which
    can deadlock (JAX warns "os.fork() was called"); without one, ``subprocess`` forks and execs
    in C. The cost: Ctrl-C also reaches ffmpeg, which is fine since the partial file is dropped.
    imageio-ffmpeg reads this variable when it spawns, so it is set only around that moment.
    """
    name = "IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"
    if os.environ.get(name):
        yield
        return
    os.environ[name] = "1"
    try:
        yield
    finally:
        os.environ.pop(name, None)


@contextlib.contextmanager
def _atomic_mp4(path: Path) -> Iterator[Path]:
    """Yield a temporary ``.mp4`` next to ``path``; move it onto ``path`` only on success.

    Same folder, so ``os.replace`` is an atomic rename; the name ends in ``.mp4`` because
    ffmpeg picks the container from it. ffmpeg creates the file, so it gets the usual umask.
    """
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.partial.mp4"
    try:
        yield tmp
        if tmp.stat().st_size == 0:
            raise OSError(f"ffmpeg wrote nothing to {tmp}; not replacing {path}.")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
