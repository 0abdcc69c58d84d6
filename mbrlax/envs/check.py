"""`check_env`: tell a user, in plain words, what mbrlax will trip over in their env."""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium
import jax
import numpy as np

from mbrlax.envs.base import EnvError
from mbrlax.envs.gym_adapter import _env_id, find_time_limit, make_gymnasium_env, space_problems
from mbrlax.envs.tasks import get_task

NUM_RANDOM_STEPS = 5
"""Random actions tried by :func:`check_env`."""


def check_env(env: str | gymnasium.Env, verbose: bool = False) -> list[str]:
    """Run ``reset``/``step`` on ``env`` and list the problems mbrlax would have with it.

    Checks the spaces (Box/Discrete), that ``reset(seed=...)`` returns ``(obs, info)`` and is
    deterministic, that observations fit the observation space (shape, dtype, bounds), that
    frames (``uint8 [H, W, 3]`` observations) are neither blank nor frozen, that
    ``step`` returns ``(obs, reward, terminated, truncated, info)`` with a finite float reward
    and bool flags, that episodes have a time limit, and whether mbrlax knows the env's task
    functions. Returns the messages (empty list: all fine); prints a report if ``verbose``.
    """
    if isinstance(env, str):
        env_id = env
        try:
            env = make_gymnasium_env(env)
        except EnvError as e:
            return _report(env_id, [str(e)], verbose)
    else:
        env_id = _env_id(env)
    return _report(env_id, _problems(env, env_id), verbose)


def _report(env_id: str, problems: list[str], verbose: bool) -> list[str]:
    if verbose:
        if problems:
            print(f"check_env({env_id}): {len(problems)} problem(s)")
            for p in problems:
                print(f"  - {p}")
        else:
            print(f"check_env({env_id}): no problems found")
    return problems


def _problems(env: gymnasium.Env, env_id: str) -> list[str]:
    problems = space_problems(env, env_id)
    ok, obs_or_problem = _check_reset(env)
    if not ok:
        # Nothing else can be checked without a working reset.
        return problems + [obs_or_problem]
    problems += _check_obs(env, obs_or_problem, "reset")
    problems += _check_seeding(env, obs_or_problem)
    problems += _check_steps(env)
    problems += _check_frames(env)
    if find_time_limit(env) is None:
        problems.append(
            "No time limit: episodes may never end. Wrap with "
            "gymnasium.wrappers.TimeLimit(env, max_episode_steps=...) or register the env "
            "with max_episode_steps."
        )
    if get_task(env_id) is None and len(env.observation_space.shape or ()) != 3:
        problems.append(
            f"No task functions registered for {env_id!r}: mbrlax will learn the reward; "
            "register_task(...) to give it exactly (and the termination)."
        )
    return problems


def _check_reset(env: gymnasium.Env) -> tuple[bool, Any]:
    try:
        out = env.reset(seed=0)
    except TypeError as e:
        return False, (
            f"reset(seed=0) failed ({e}): reset must accept the keyword arguments seed=None "
            "and options=None and call super().reset(seed=seed)."
        )
    except Exception as e:  # any failure of user code is a problem to report
        return False, f"reset(seed=0) raised {type(e).__name__}: {e}"
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        return False, (
            f"reset must return a tuple (obs, info) with info a dict, got {_describe(out)}; "
            "this is the Gymnasium API (old gym returned obs alone)."
        )
    return True, out[0]


def _check_obs(env: gymnasium.Env, obs: Any, where: str) -> list[str]:
    space = env.observation_space
    if not isinstance(space, gymnasium.spaces.Box):
        return []  # already reported by the space checks
    arr = np.asarray(obs)
    if arr.shape != space.shape:
        return [
            f"{where} returned an observation of shape {arr.shape}, but observation_space has "
            f"shape {space.shape}; make them agree."
        ]
    problems = []
    if arr.dtype != space.dtype:
        problems.append(
            f"{where} returned an observation of dtype {arr.dtype}, but observation_space has "
            f"dtype {space.dtype}; cast it (e.g. obs.astype(np.{space.dtype}))."
        )
    if not np.all(np.isfinite(arr)):
        problems.append(f"{where} returned a non-finite observation: {arr}.")
    elif not space.contains(arr.astype(space.dtype)):
        problems.append(
            f"{where} returned an observation outside observation_space (low={space.low}, "
            f"high={space.high}): {arr}; widen the bounds or fix the dynamics."
        )
    return problems


def _check_seeding(env: gymnasium.Env, first_obs: Any) -> list[str]:
    try:
        second_obs, _ = env.reset(seed=0)
    except Exception as e:
        return [f"a second reset(seed=0) raised {type(e).__name__}: {e}"]
    if not _same_obs(first_obs, second_obs):
        return [
            "reset(seed=0) twice gave different observations: seeding does not make reset "
            "deterministic. Call super().reset(seed=seed) and draw all randomness from "
            "self.np_random."
        ]
    return []


def _same_obs(a: Any, b: Any) -> bool:
    # Observations may be dicts or tuples of arrays when the spaces are unsupported.
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    return tree_a == tree_b and all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def _check_steps(env: gymnasium.Env) -> list[str]:
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(NUM_RANDOM_STEPS):
        action = env.action_space.sample()
        try:
            out = env.step(action)
        except Exception as e:
            # Wrappers (TimeLimit, ...) fail when unpacking a malformed step result: look at
            # the user's own env to say what is actually wrong.
            inner = _step_unwrapped(env, action)
            if inner is not None and not _is_step_tuple(inner):
                return [_step_format_problem(inner)]
            return [f"step({action!r}) raised {type(e).__name__}: {e}"]
        if not _is_step_tuple(out):
            return [_step_format_problem(out)]
        obs, reward, terminated, truncated, info = out
        problems = _check_obs(env, obs, "step")
        if not _is_real_scalar(reward):
            problems.append(
                f"step returned a reward of type {type(reward).__name__} ({reward!r}); "
                "return one Python or numpy float."
            )
        elif not np.isfinite(float(reward)):
            problems.append(f"step returned a non-finite reward ({reward}).")
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            if not isinstance(flag, (bool, np.bool_)):
                problems.append(
                    f"step returned {name} of type {type(flag).__name__} ({flag!r}); return a bool."
                )
        if not isinstance(info, dict):
            problems.append(f"step returned info of type {type(info).__name__}; return a dict.")
        if problems:
            return problems
        if terminated or truncated:
            env.reset()
    return []


def _check_frames(env: gymnasium.Env) -> list[str]:
    """For RGB-frame observations: blank or frozen frames (a renderer that failed quietly)."""
    space = env.observation_space
    if not (isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 3):
        return []
    try:
        frames = [np.asarray(env.reset(seed=0)[0])]
        env.action_space.seed(0)
        for _ in range(NUM_RANDOM_STEPS):
            frames.append(np.asarray(env.step(env.action_space.sample())[0]))
    except Exception:  # reported by the step checks
        return []
    if all(np.ptp(f) == 0 for f in frames):
        return [
            "every frame is one flat colour: the renderer draws nothing (a headless MuJoCo "
            "needs MUJOCO_GL=egl, or osmesa without a GPU)."
        ]
    if all(np.array_equal(f, frames[0]) for f in frames[1:]):
        return [
            f"the frames did not change over {NUM_RANDOM_STEPS} random steps: the pixels may "
            "not show the state (a camera pointing away, a render of the first state only)."
        ]
    return []


def _is_step_tuple(out: Any) -> bool:
    return isinstance(out, tuple) and len(out) == 5


def _step_format_problem(out: Any) -> str:
    hint = (
        " (4 values is the old gym API (obs, reward, done, info); split done into "
        "terminated and truncated)"
        if isinstance(out, tuple) and len(out) == 4
        else ""
    )
    return (
        f"step must return (obs, reward, terminated, truncated, info), got {_describe(out)}{hint}."
    )


def _step_unwrapped(env: gymnasium.Env, action: Any) -> Any:
    """What the innermost env's ``step`` returns after a seeded reset, or ``None`` if it fails."""
    if env.unwrapped is env:
        return None
    try:
        env.unwrapped.reset(seed=0)
        return env.unwrapped.step(action)
    except Exception:
        return None


def _is_real_scalar(x: Any) -> bool:
    if isinstance(x, bool | np.bool_):
        return False
    if isinstance(x, numbers.Real):
        return True
    return isinstance(x, np.ndarray) and x.shape == () and np.issubdtype(x.dtype, np.number)


def _describe(x: Any) -> str:
    if isinstance(x, tuple):
        return f"a tuple of {len(x)} values"
    return f"a {type(x).__name__}"
