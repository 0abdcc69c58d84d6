"""One door in for any Gymnasium env: `make_env` reads its spaces into an `EnvSpec`.

``GymEnv`` is a thin host-side wrapper: float32 flat observations (an int32 index for Discrete
ones, which tabular agents use; uint8 ``[H, W, 3]`` frames, which PlaNet and Dreamer use),
Python scalars for reward and flags, and actions checked against the action space. Any env id
may ask for pixel observations, ``ID?pixels=64`` (:mod:`mbrlax.envs.pixels`). Anything mbrlax
cannot use yet (dict observations, multi-discrete actions, unbounded actions, ...) is refused
here, at the boundary, with a message that says what to do instead.
"""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from jaxtyping import Float

from mbrlax.envs.base import EnvError
from mbrlax.envs.dmc import DMC_PREFIX, make_dmc
from mbrlax.envs.jax_gym import JaxGymEnv
from mbrlax.envs.pixels import GymPixels, PixelEnv, split_env_options
from mbrlax.envs.registry import JAX_ENV_PREFIX, JAX_ENVS, list_jax_envs, make_jax_env
from mbrlax.envs.spec import EnvSpec

__all__ = [
    "EnvError",
    "GymEnv",
    "make_env",
    "make_gymnasium_env",
    "spec_from_spaces",
    "find_time_limit",
]


def _mujoco_available() -> bool:
    return importlib.util.find_spec("mujoco") is not None


def _observation_problem(space: gymnasium.Space, env_id: str) -> str | None:
    """Why ``space`` cannot be an mbrlax observation space, or ``None`` if it can."""
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        return (
            f"{env_id}: {type(space).__name__} observation spaces are not supported; "
            "wrap the env with gymnasium.wrappers.FlattenObservation to get one flat Box."
        )
    if isinstance(space, spaces.Discrete):
        return None  # tabular: one int per observation (mbrlax.agents.dyna)
    if not isinstance(space, spaces.Box):
        return (
            f"{env_id}: observation space {space} is not supported; mbrlax needs a flat Box of "
            "floats (state vector). Wrap the env so it returns one."
        )
    if len(space.shape) == 3 and space.shape[-1] == 3 and space.dtype == np.uint8:
        return None  # RGB frames [H, W, 3] (PlaNet, Dreamer)
    if space.dtype == np.uint8 or len(space.shape) > 1:
        return (
            f"{env_id}: observation space Box{space.shape} of {space.dtype} is neither a vector "
            "of floats nor RGB frames (uint8 [H, W, 3]); for images, make them uint8 [H, W, 3] "
            "(a grey frame: stack it 3 times), or ask mbrlax to render the env: "
            f"'{env_id}?pixels=64'; otherwise flatten the observation "
            "(gymnasium.wrappers.FlattenObservation)."
        )
    if len(space.shape) == 0:
        return (
            f"{env_id}: scalar Box observations (shape ()) are not supported; wrap with "
            "gymnasium.wrappers.ReshapeObservation(env, (1,))."
        )
    if not np.issubdtype(space.dtype, np.floating):
        return (
            f"{env_id}: Box observations of dtype {space.dtype} are not supported; "
            "return float observations (e.g. float32)."
        )
    return None


def _action_problem(space: gymnasium.Space, env_id: str) -> str | None:
    """Why ``space`` cannot be an mbrlax action space, or ``None`` if it can."""
    if isinstance(space, spaces.Discrete):
        return None
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
        return (
            f"{env_id}: {type(space).__name__} action spaces are not supported; mbrlax handles "
            "Box (continuous) and Discrete actions. Flatten the choices into one Discrete space "
            "(a wrapper mapping an index to the tuple of sub-actions)."
        )
    if not isinstance(space, spaces.Box):
        return (
            f"{env_id}: action space {space} is not supported; mbrlax handles Box (continuous) "
            "and Discrete actions."
        )
    if len(space.shape) != 1:
        return (
            f"{env_id}: Box actions must be a vector (shape (A,)), got shape {space.shape}; "
            "wrap the env so it takes a flat action vector."
        )
    if not np.issubdtype(space.dtype, np.floating):
        return f"{env_id}: Box actions of dtype {space.dtype} are not supported; use floats."
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        return (
            f"{env_id}: Box action space has infinite bounds (low={space.low}, "
            f"high={space.high}); planners and policies need finite bounds. Give the space "
            "finite bounds, or wrap with gymnasium.wrappers.ClipAction / "
            "gymnasium.wrappers.RescaleAction(env, -1.0, 1.0) after setting them."
        )
    return None


def space_problems(env: gymnasium.Env, env_id: str) -> list[str]:
    """The reasons (possibly none) why mbrlax cannot use ``env``'s observation/action spaces."""
    found = [
        _observation_problem(env.observation_space, env_id),
        _action_problem(env.action_space, env_id),
    ]
    return [p for p in found if p is not None]


def find_time_limit(env: gymnasium.Env) -> int | None:
    """The step limit that truncates ``env``'s episodes: a ``TimeLimit`` wrapper or a JAX env's."""
    current: Any = env
    while True:
        if isinstance(current, gymnasium.wrappers.TimeLimit):
            return int(current._max_episode_steps)
        if isinstance(current, JaxGymEnv):
            return current.jax_env.spec.max_episode_steps
        if not isinstance(current, gymnasium.Wrapper):
            return None
        current = current.env


def _env_id(env: gymnasium.Env) -> str:
    if isinstance(env.unwrapped, JaxGymEnv):
        return env.unwrapped.jax_env.spec.env_id
    if env.spec is not None:
        return env.spec.id
    return type(env.unwrapped).__name__


def spec_from_spaces(env: gymnasium.Env, env_id: str | None = None) -> EnvSpec:
    """Read ``env``'s (validated) spaces and time limit into an :class:`EnvSpec`."""
    env_id = env_id or _env_id(env)
    problems = space_problems(env, env_id)
    if problems:
        raise EnvError("\n".join(problems))
    obs_space, act_space = env.observation_space, env.action_space
    common = dict(
        env_id=env_id,
        obs_shape=tuple(int(n) for n in obs_space.shape),
        max_episode_steps=find_time_limit(env),
        num_states=int(obs_space.n) if isinstance(obs_space, spaces.Discrete) else None,
    )
    if isinstance(act_space, spaces.Discrete):
        return EnvSpec(
            action_kind="discrete", action_shape=(), num_actions=int(act_space.n), **common
        )
    return EnvSpec(
        action_kind="continuous",
        action_shape=tuple(int(n) for n in act_space.shape),
        action_low=tuple(float(v) for v in act_space.low),
        action_high=tuple(float(v) for v in act_space.high),
        **common,
    )


class GymEnv:
    """A Gymnasium env seen through mbrlax's eyes (host side; not jittable).

    Attributes:
        env: the wrapped ``gymnasium.Env``.
        spec: its :class:`EnvSpec`.
    """

    def __init__(self, env: gymnasium.Env, env_id: str | None = None):
        self.env = env
        self.spec = spec_from_spaces(env, env_id)

    def reset(self, seed: int | None = None) -> tuple[Float[np.ndarray, " obs_dim"], dict]:
        """Start an episode; returns ``(obs, info)``, ``obs`` float32 ``[obs_dim]`` (an int32
        ``[]`` in ``[0, num_states)`` for Discrete observations, uint8 ``[H, W, 3]`` for
        frames)."""
        obs, info = self.env.reset(seed=seed)
        return self._from_env_obs(obs), info

    def step(
        self, action: Any
    ) -> tuple[Float[np.ndarray, " obs_dim"], float, bool, bool, dict[str, Any]]:
        """Act; ``action`` is ``[A]`` (Box) or an int (Discrete).

        Returns ``(obs, reward, terminated, truncated, info)``, ``obs`` as from :meth:`reset`.
        """
        obs, reward, terminated, truncated, info = self.env.step(self._to_env_action(action))
        return (
            self._from_env_obs(obs),
            float(reward),
            bool(terminated),
            bool(truncated),
            info,
        )

    def _from_env_obs(self, obs: Any) -> np.ndarray:
        space = self.env.observation_space
        if isinstance(space, spaces.Discrete):
            return np.asarray(int(obs) - int(space.start), np.int32)
        return np.asarray(obs, dtype=self.spec.obs_dtype)

    def _to_env_action(self, action: Any) -> Any:
        space = self.env.action_space
        if isinstance(space, spaces.Discrete):
            a = np.asarray(action)
            if a.size != 1 or not np.issubdtype(a.dtype, np.integer) or not 0 <= a < space.n:
                raise EnvError(
                    f"{self.spec.env_id} has Discrete({space.n}) actions: pass one integer in "
                    f"[0, {space.n}), got {action!r}."
                )
            return int(space.start) + int(a.reshape(()))
        a = np.asarray(action)
        if a.shape != space.shape:
            raise EnvError(
                f"{self.spec.env_id} expects actions of shape {space.shape}, got {a.shape}; "
                "pass one action vector (batch over envs yourself, outside this call)."
            )
        return a.astype(space.dtype, copy=False)

    @property
    def can_snapshot(self) -> bool:
        """Whether the env's state can be saved mid-episode (JAX-native envs; Gymnasium envs in
        general cannot, so a run on them checkpoints at episode boundaries)."""
        return isinstance(self.env, JaxGymEnv)

    def snapshot(self) -> Any:
        """The env's state as a pytree of arrays; only when :attr:`can_snapshot`."""
        if not isinstance(self.env, JaxGymEnv):
            raise EnvError(f"{self.spec.env_id}'s state cannot be saved (not a JAX-native env).")
        return self.env.snapshot()

    def restore(self, snapshot: Any) -> None:
        """Continue from a :meth:`snapshot`."""
        if not isinstance(self.env, JaxGymEnv):
            raise EnvError(f"{self.spec.env_id}'s state cannot be restored (not a JAX-native env).")
        self.env.restore(snapshot)

    def render(self) -> Any:
        """Whatever the wrapped env's ``render()`` returns (a frame for ``"rgb_array"``)."""
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def __repr__(self) -> str:
        return f"GymEnv({self.spec.env_id}, obs={self.spec.obs_shape}, {self.spec.action_kind})"


def _unknown_id_error(env_id: str) -> EnvError:
    candidates = list(gymnasium.registry.keys()) + list_jax_envs()
    close = difflib.get_close_matches(env_id, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return EnvError(
        f"Unknown env id {env_id!r}.{hint} Gymnasium ids are listed by "
        "gymnasium.pprint_registry(); mbrlax's own by mbrlax.envs.list_jax_envs(); DeepMind "
        "Control tasks are dmc/DOMAIN-TASK (mbrlax.envs.list_dmc_tasks()). "
        "For an env from another package, import that package first (or use 'module:EnvId')."
    )


def _is_mujoco_id(env_id: str) -> bool:
    entry = gymnasium.registry[env_id].entry_point
    return isinstance(entry, str) and entry.startswith("gymnasium.envs.mujoco")


def _make_gymnasium(env_id: str, **kwargs: Any) -> gymnasium.Env:
    if ":" not in env_id and env_id not in gymnasium.registry:
        raise _unknown_id_error(env_id)
    mujoco_hint = "pip install 'mbrlax[mujoco]' to use the MuJoCo envs"
    if ":" not in env_id and _is_mujoco_id(env_id) and not _mujoco_available():
        raise EnvError(f"{env_id} needs MuJoCo, which is not installed: {mujoco_hint}.")
    try:
        return gymnasium.make(env_id, **kwargs)
    except gymnasium.error.DependencyNotInstalled as e:
        if "mujoco" in str(e).lower():
            raise EnvError(f"{env_id} needs MuJoCo: {mujoco_hint}. ({e})") from e
        raise


def make_env(env: str | gymnasium.Env, **kwargs: Any) -> GymEnv:
    """Make an mbrlax-ready env from a Gymnasium id, an ``mbrlax/...`` id, a DeepMind Control
    ``dmc/DOMAIN-TASK`` id (:mod:`mbrlax.envs.dmc`), or an env instance; ``ID?pixels=64``
    observes any of these ids through 64 x 64 RGB frames (:mod:`mbrlax.envs.pixels`).

    Keyword arguments go to ``gymnasium.make`` for Gymnasium ids (e.g. ``render_mode``), and to
    the env's constructor for ``mbrlax/...`` and ``dmc/...`` ids (``render_mode`` goes to
    :class:`JaxGymEnv` for the former).
    Raises :class:`EnvError` saying what to do for anything mbrlax cannot use.
    """
    if isinstance(env, gymnasium.Env):
        if kwargs:
            raise EnvError(
                f"make_env got keyword arguments {sorted(kwargs)} with an env instance; "
                "pass them when you construct the env instead."
            )
        return GymEnv(env)
    if not isinstance(env, str):
        raise EnvError(
            f"make_env expects a Gymnasium id, an 'mbrlax/...' id or a gymnasium.Env, got "
            f"{type(env).__name__}. For a JAX-native env object, use JaxGymEnv(jax_env)."
        )
    return GymEnv(make_gymnasium_env(env, **kwargs), env)


def make_gymnasium_env(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """The ``gymnasium.Env`` behind any id :func:`make_env` takes (its spaces not yet checked:
    :func:`mbrlax.envs.check_env` reports on them)."""
    if env_id.startswith(DMC_PREFIX):
        return make_dmc(env_id, **kwargs)
    base, options = split_env_options(env_id, {"pixels": int})
    pixels = options.get("pixels")
    if base.startswith(JAX_ENV_PREFIX):
        if base not in JAX_ENVS:
            raise _unknown_id_error(base)
        render_mode = kwargs.pop("render_mode", None)
        jax_env = make_jax_env(base, **kwargs)
        if pixels is not None:
            jax_env = PixelEnv(jax_env, pixels)
        return JaxGymEnv(jax_env, render_mode=render_mode)
    if pixels is None:
        return _make_gymnasium(base, **kwargs)
    if kwargs.get("render_mode", "rgb_array") != "rgb_array":
        raise EnvError(f"{env_id!r} renders its observations: leave render_mode out (rgb_array).")
    return GymPixels(_make_gymnasium(base, **{**kwargs, "render_mode": "rgb_array"}), pixels)
