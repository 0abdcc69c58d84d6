"""Ids of mbrlax's JAX-native envs (``mbrlax/...``) and `make_jax_env`."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from mbrlax.envs.acrobot import Acrobot
from mbrlax.envs.base import EnvError, JaxEnv
from mbrlax.envs.bicycle import Bicycle
from mbrlax.envs.cartpole import CartPole
from mbrlax.envs.cartpole_swingup import CartpoleSwingup
from mbrlax.envs.catch import Catch
from mbrlax.envs.maze import blocking_maze, dyna_maze, shortcut_maze
from mbrlax.envs.pendulum import Pendulum, pendulum_swingup
from mbrlax.envs.point_goal import PointGoal, point_reach
from mbrlax.envs.point_mass import PointMass

JAX_ENVS: dict[str, Callable[..., JaxEnv]] = {
    "mbrlax/Pendulum-v0": Pendulum,
    "mbrlax/PendulumSwingup-v0": pendulum_swingup,
    "mbrlax/CartpoleSwingup-v0": CartpoleSwingup,
    "mbrlax/BicycleTrack-v0": Bicycle,
    "mbrlax/PointMass-v0": PointMass,
    "mbrlax/PointGoal-v0": PointGoal,
    "mbrlax/PointReach-v0": point_reach,
    "mbrlax/AcrobotSwingup-v0": Acrobot,
    "mbrlax/DynaMaze-v0": dyna_maze,
    "mbrlax/BlockingMaze-v0": blocking_maze,
    "mbrlax/ShortcutMaze-v0": shortcut_maze,
    "mbrlax/CartPole-v0": CartPole,
    "mbrlax/Catch-v0": Catch,
}
"""Constructor of each JAX-native env by id; keyword arguments set its physical constants."""

JAX_ENV_PREFIX = "mbrlax/"


def list_jax_envs() -> list[str]:
    """The ids accepted by :func:`make_jax_env` (and by ``make_env``), sorted."""
    return sorted(JAX_ENVS)


def make_jax_env(env_id: str, **kwargs: Any) -> JaxEnv:
    """The pure JAX env of an ``mbrlax/...`` id; ``kwargs`` go to its constructor.

    Example: ``make_jax_env("mbrlax/CartpoleSwingup-v0", friction=0.0)``.
    """
    if env_id not in JAX_ENVS:
        close = difflib.get_close_matches(env_id, list(JAX_ENVS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise EnvError(
            f"Unknown JAX env id {env_id!r}.{hint} Available: {', '.join(list_jax_envs())}."
        )
    return JAX_ENVS[env_id](**kwargs)
