"""`JaxGymEnv`: a Gymnasium face on a JAX-native env, so the host runner can drive it."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import UInt8

from mbrlax.envs.base import EnvState, JaxEnv


@runtime_checkable
class RendersRGB(Protocol):
    """A JAX env that can draw one of its states: ``render_rgb(state) -> uint8 [H, W, 3]``."""

    def render_rgb(self, state: EnvState) -> UInt8[np.ndarray, "H W 3"]: ...


class JaxGymEnv(gymnasium.Env):
    """Drive a :class:`JaxEnv` through the Gymnasium API (host side, one env, jitted calls).

    ``reset(seed=s)`` seeds a JAX key from ``s``; later ``reset()`` calls split that key, so
    a seeded sequence of episodes is reproducible. Episodes are truncated after
    ``jax_env.spec.max_episode_steps`` steps (``truncated=True``).

    Args:
        jax_env: the pure env to drive.
        render_mode: ``None`` or ``"rgb_array"`` (needs ``jax_env.render_rgb``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, jax_env: JaxEnv, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"render_mode={render_mode!r} is not supported by JAX-native envs; "
                "use render_mode='rgb_array' (or None)."
            )
        if render_mode is not None and not isinstance(jax_env, RendersRGB):
            raise ValueError(
                f"{type(jax_env).__name__} cannot draw frames (no render_rgb method); "
                "use render_mode=None."
            )
        self.jax_env = jax_env
        self.render_mode = render_mode
        spec = jax_env.spec
        if spec.is_tabular:
            self.observation_space = gymnasium.spaces.Discrete(int(spec.num_states))
        elif spec.is_image:
            self.observation_space = gymnasium.spaces.Box(0, 255, spec.obs_shape, np.uint8)
        else:
            self.observation_space = gymnasium.spaces.Box(
                -np.inf, np.inf, shape=spec.obs_shape, dtype=np.float32
            )
        if spec.is_continuous:
            low, high = spec.action_bounds()
            self.action_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
        else:
            self.action_space = gymnasium.spaces.Discrete(int(spec.num_actions))
        self._reset = jax.jit(jax_env.reset)
        self._next_episode = jax.jit(jax_env.next_episode)
        self._step = jax.jit(jax_env.step)
        self._key: jax.Array | None = None
        self._state: EnvState | None = None
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; returns ``(obs, info)`` (``obs`` float32 ``[obs_dim]``, int32
        ``[]`` for discrete observations, uint8 ``[H, W, 3]`` for frames).

        The first reset starts the env afresh (``jax_env.reset``); later ones start the next
        episode of the same run (``jax_env.next_episode``), which for most envs is the same
        thing, while an env whose world changes over a run (the blocking maze) carries on.
        ``options={"fresh": True}`` forces a fresh start.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        elif self._key is None:
            # Unseeded first reset: draw the key from Gymnasium's entropy-seeded generator.
            self._key = jax.random.key(int(self.np_random.integers(2**31 - 1)))
        self._key, reset_key = jax.random.split(self._key)
        if self._state is None or (options or {}).get("fresh", False):
            self._state, obs = self._reset(reset_key)
        else:
            self._state, obs = self._next_episode(self._state, reset_key)
        self._t = 0
        return self._obs(obs), {}

    def _obs(self, obs: jax.Array) -> np.ndarray:
        return np.asarray(obs, self.jax_env.spec.obs_dtype)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step: ``(obs, reward, terminated, truncated, info)``."""
        if self._state is None:
            raise gymnasium.error.ResetNeeded("Call reset() before step().")
        if self.jax_env.spec.is_continuous:
            action = jnp.asarray(action, dtype=jnp.float32).reshape(self.jax_env.spec.action_shape)
        else:
            action = jnp.asarray(action, dtype=jnp.int32)
        out = self._step(self._state, action)
        self._state = out.state
        self._t += 1
        limit = self.jax_env.spec.max_episode_steps
        truncated = limit is not None and self._t >= limit
        return self._obs(out.obs), float(out.reward), bool(out.terminated), bool(truncated), {}

    def snapshot(self) -> dict[str, Any]:
        """The env's whole state as a pytree of arrays (key, env state, step count), so that a
        checkpoint taken mid-episode resumes exactly; see :meth:`restore`."""
        if self._state is None or self._key is None:
            raise gymnasium.error.ResetNeeded("Call reset() before snapshot().")
        return {"key": self._key, "state": self._state, "t": np.asarray(self._t, np.int64)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (of this env or an identical one)."""
        self._key, self._state, self._t = snapshot["key"], snapshot["state"], int(snapshot["t"])

    def render(self) -> UInt8[np.ndarray, "H W 3"] | None:
        """The current frame as ``uint8 [H, W, 3]`` when ``render_mode="rgb_array"``."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called with render_mode=None; pass 'rgb_array'.")
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("Call reset() before render().")
        return self.jax_env.render_rgb(jax.device_get(self._state))
