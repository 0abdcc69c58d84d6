"""DeepMind Control suite tasks as Gymnasium envs: ``make_env("dmc/cartpole-swingup")``.

An id is ``dmc/DOMAIN-TASK`` (the suite's domain and task names, with ``_`` as in the suite:
``dmc/ball_in_cup-catch``), optionally followed by options in a query string:
``dmc/cartpole-swingup?action_repeat=2``; ``?pixels=64`` observes 64 x 64 RGB frames rendered from
``camera_id`` (headless with ``MUJOCO_GL=egl``) instead of the state. The state observation is
the suite's observation dict flattened into one float32 vector, its keys in the order the task's
``observation_spec`` gives them (fixed for a task); actions are the suite's bounded vector. An
episode lasts the task's time limit (1,000 control steps for the suite's benchmark tasks, i.e.
``1000 / action_repeat`` env steps) and ends *truncated*; a task that terminates (the suite's
discount 0 at its last step) ends *terminated*. With ``action_repeat`` ``k``, each env step
applies the action ``k`` times and returns the sum of the ``k`` rewards (the PlaNet and Dreamer
papers count budgets in control steps, "frames": 100k of them at ``k = 2`` are 50k env steps
here).

dm-control is an optional dependency (``pip install 'mbrlax[dmc]'``); it ships the suite's
model files, so nothing is downloaded at run time. The task's random state is seeded from
``reset(seed=...)``, so the same seed gives the same episode.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from mbrlax.envs.base import EnvError
from mbrlax.envs.pixels import check_pixels, split_env_options

DMC_PREFIX = "dmc/"
_OPTIONS = {"action_repeat": int, "camera_id": int, "pixels": int, "render_size": int}


def _suite():
    try:
        from dm_control import suite
    except ImportError as e:  # pragma: no cover - dm-control is in the dev extra
        raise EnvError("DeepMind Control envs need dm-control: pip install 'mbrlax[dmc]'.") from e
    return suite


def list_dmc_tasks() -> list[str]:
    """Every ``dmc/DOMAIN-TASK`` id of the suite (needs dm-control)."""
    return [f"{DMC_PREFIX}{d}-{t}" for d, t in _suite().ALL_TASKS]


def parse_dmc_id(env_id: str) -> tuple[str, str, dict[str, Any]]:
    """``"dmc/cartpole-swingup?action_repeat=2"`` -> ``("cartpole", "swingup",
    {"action_repeat": 2})``; an :class:`EnvError` saying what to write for anything else."""
    if not env_id.startswith(DMC_PREFIX):
        raise EnvError(f"{env_id!r} is not a DeepMind Control id (dmc/DOMAIN-TASK).")
    base, options = split_env_options(env_id, _OPTIONS, "action_repeat=2")
    domain, sep, task = base[len(DMC_PREFIX) :].partition("-")
    if not sep or not domain or not task:
        raise EnvError(
            f"{env_id!r}: write DeepMind Control ids as dmc/DOMAIN-TASK, e.g. "
            "dmc/cartpole-swingup (mbrlax.envs.list_dmc_tasks() lists them)."
        )
    return domain, task, options


class DMCEnv(gymnasium.Env):
    """One DeepMind Control suite task as a Gymnasium env (see the module docstring).

    Args:
        domain: the suite's domain (``"cartpole"``).
        task: the domain's task (``"swingup"``).
        action_repeat: apply each action this many times and sum the rewards.
        render_mode: ``"rgb_array"`` renders ``render_size`` x ``render_size`` frames.
        render_size: rendered frames' height and width in pixels.
        camera_id: the suite camera to render from (0: each domain's default view; DreamerV3
            uses 2 for quadruped).
        pixels: observe ``pixels`` x ``pixels`` RGB frames from ``camera_id`` (``uint8``,
            rendered headless: set ``MUJOCO_GL=egl``) instead of the state vector.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        domain: str,
        task: str,
        action_repeat: int = 1,
        render_mode: str | None = None,
        render_size: int = 64,
        camera_id: int = 0,
        pixels: int | None = None,
    ):
        suite = _suite()
        if (domain, task) not in suite.ALL_TASKS:
            wanted = f"{DMC_PREFIX}{domain}-{task}"
            close = difflib.get_close_matches(wanted, list_dmc_tasks(), n=5, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise EnvError(
                f"Unknown DeepMind Control task {wanted!r}.{hint} "
                "mbrlax.envs.list_dmc_tasks() lists them."
            )
        if action_repeat < 1:
            raise EnvError(f"action_repeat must be >= 1, got {action_repeat}.")
        if render_mode not in (None, "rgb_array"):
            raise EnvError(f"DMCEnv renders only render_mode='rgb_array', got {render_mode!r}.")
        self.domain, self.task, self.action_repeat = domain, task, action_repeat
        self.render_mode, self.render_size, self.camera_id = render_mode, render_size, camera_id
        self._env = suite.load(domain, task, task_kwargs={"random": 0})
        self._keys = list(self._env.observation_spec())
        self.pixels = pixels
        if pixels is not None:
            check_pixels(pixels, f"{DMC_PREFIX}{domain}-{task}")
            self.observation_space = spaces.Box(0, 255, (pixels, pixels, 3), np.uint8)
        else:
            dim = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
            self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        spec = self._env.action_spec()
        self.action_space = spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        control_steps = round(self._env._step_limit)  # the suite's time limit, in control steps
        self.max_episode_steps = math.ceil(control_steps / action_repeat)

    def _render(self, size: int) -> np.ndarray:
        try:
            return self._env.physics.render(size, size, camera_id=self.camera_id)
        except Exception as e:  # mujoco.FatalError, dm_control's renderer errors
            raise EnvError(
                f"{DMC_PREFIX}{self.domain}-{self.task} could not render a frame "
                f"({type(e).__name__}: {e}). Without a display MuJoCo renders headless: set "
                "MUJOCO_GL=egl (or osmesa where there is no GPU driver) before starting Python, "
                "e.g. `MUJOCO_GL=egl python ...`; the mbrlax command sets egl itself on a "
                "machine without a display."
            ) from e

    def _flatten(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self.pixels is not None:
            return self._render(self.pixels)
        parts = [np.asarray(observation[k], np.float32).reshape(-1) for k in self._keys]
        return np.concatenate(parts)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # the task draws its initial states from its own random state
            self._env.task._random = np.random.RandomState(seed)
        return self._flatten(self._env.reset().observation), {}

    def step(self, action):
        low, high = self.action_space.low, self.action_space.high
        action = np.clip(np.asarray(action, np.float64), low, high)
        reward = 0.0
        for _ in range(self.action_repeat):
            time_step = self._env.step(action)
            reward += float(time_step.reward or 0.0)
            if time_step.last():
                break
        ended = time_step.last()
        terminated = bool(ended and time_step.discount == 0.0)
        truncated = ended and not terminated
        return self._flatten(time_step.observation), reward, terminated, truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render(self.render_size)

    def close(self):
        self._env.close()


def make_dmc(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """The env of a ``dmc/DOMAIN-TASK[?options]`` id, in a ``TimeLimit`` of its episode length
    (so the adapter knows it); ``kwargs`` (e.g. ``render_mode``) go to :class:`DMCEnv` and may
    not repeat an option of the id."""
    domain, task, options = parse_dmc_id(env_id)
    twice = sorted(set(options) & set(kwargs))
    if twice:
        raise EnvError(f"{env_id!r} sets {twice} in the id and as keyword arguments; pick one.")
    env = DMCEnv(domain, task, **options, **kwargs)
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=env.max_episode_steps)
