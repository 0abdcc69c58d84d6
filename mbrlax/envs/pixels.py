"""Pixel observations: any env that draws itself, seen only through ``size`` x ``size`` RGB
frames (``uint8 [size, size, 3]``), as PlaNet and Dreamer learn from.

Spelled in the env id, the same way for every source::

    make_env("mbrlax/Pendulum-v0?pixels=64")           # a JAX-native env: drawn inside jit
    make_env("Pendulum-v1?pixels=64")                   # a Gymnasium env that renders rgb_array
    make_env("dmc/cartpole-swingup?pixels=64&action_repeat=2")   # DeepMind Control (MuJoCo EGL)

For a JAX-native env, :class:`PixelEnv` wraps the pure env: its observation is the env's
``draw(state, size)`` (:mod:`mbrlax.envs.canvas`), so a pixel task still runs compiled and its
state is still the physical state (a known model for planners). For a Gymnasium env,
:class:`GymPixels` replaces each observation by the env's ``render()`` frame, area-averaged
down to ``size`` x ``size``. Frames stay ``uint8`` in the replay buffer (a 64 x 64 frame is 12 KB;
models scale them to ``[-0.5, 0.5]``).
"""

from __future__ import annotations

from typing import Any, Protocol, final, runtime_checkable
from urllib.parse import parse_qsl

import equinox as eqx
import gymnasium
import numpy as np
from gymnasium import spaces
from jaxtyping import Array, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvError, EnvState, EnvStep, JaxEnv
from mbrlax.envs.spec import EnvSpec

MIN_PIXELS, MAX_PIXELS = 8, 512


@runtime_checkable
class Draws(Protocol):
    """A JAX env that draws a state traceably: ``draw(state, size) -> uint8 [size, size, 3]``."""

    def draw(self, state: EnvState, size: int) -> UInt8[Array, "size size 3"]: ...


def split_env_options(
    env_id: str, allowed: dict[str, type], example: str = "pixels=64"
) -> tuple[str, dict[str, Any]]:
    """``"Pendulum-v1?pixels=64"`` -> ``("Pendulum-v1", {"pixels": 64})``, each option cast by
    ``allowed``; an :class:`EnvError` naming the valid options (and ``example``) for anything
    else."""
    base, _, query = env_id.partition("?")
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in allowed:
            raise EnvError(
                f"{env_id!r}: unknown option {key!r}; the options are "
                f"{', '.join(sorted(allowed))} (e.g. {base}?{example})."
            )
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise EnvError(f"{env_id!r}: {key} must be an integer, got {value!r}.") from None
    if "pixels" in options:
        check_pixels(options["pixels"], env_id)
    return base, options


def check_pixels(size: int, env_id: str) -> None:
    """Refuse a frame side outside ``[8, 512]``."""
    if not MIN_PIXELS <= size <= MAX_PIXELS:
        raise EnvError(
            f"{env_id!r}: pixels={size} is not a frame side mbrlax renders; use "
            f"{MIN_PIXELS}..{MAX_PIXELS} (64 is the PlaNet/Dreamer size)."
        )


def image_spec(spec: EnvSpec, size: int) -> EnvSpec:
    """``spec`` with ``size`` x ``size`` RGB observations."""
    return EnvSpec(
        **{**spec.__dict__, "obs_shape": (size, size, 3), "env_id": f"{spec.env_id}?pixels={size}"}
    )


@final
class PixelEnv(JaxEnv):
    """A JAX env observed through its frames: ``obs = env.draw(state, size)``.

    Dynamics, rewards, terminations and the state are the wrapped env's; only the observation
    changes, so the pixel task runs under jit and ``as_step_fn`` still gives the exact model.
    """

    env: JaxEnv
    size: int = eqx.field(static=True, default=64)

    def __check_init__(self) -> None:
        if not isinstance(self.env, Draws):
            from mbrlax.envs.registry import JAX_ENVS  # the registry imports the envs

            can = [i for i, make in JAX_ENVS.items() if isinstance(make(), Draws)]
            raise EnvError(
                f"{self.env.spec.env_id} cannot draw its states inside jit (no draw(state, size) "
                f"method), so it has no pixel observations; the envs that can: {', '.join(can)}."
            )
        check_pixels(self.size, self.env.spec.env_id)

    @property
    def spec(self) -> EnvSpec:
        return image_spec(self.env.spec, self.size)

    def reset(self, key: PRNGKeyArray) -> tuple[EnvState, UInt8[Array, "S S 3"]]:
        state, _ = self.env.reset(key)
        return state, self.observe(state)

    def next_episode(self, state: EnvState, key: PRNGKeyArray):
        state, _ = self.env.next_episode(state, key)
        return state, self.observe(state)

    def step(self, state: EnvState, action) -> EnvStep:
        out = self.env.step(state, action)
        return out._replace(obs=self.observe(out.state))

    def observe(self, state: EnvState) -> UInt8[Array, "S S 3"]:
        return self.env.draw(state, self.size)

    def render_rgb(self, state: EnvState) -> UInt8[np.ndarray, "H W 3"]:
        """The wrapped env's full-size frame (for videos)."""
        return self.env.render_rgb(state)


def resize_frame(frame: UInt8[np.ndarray, "H W 3"], size: int) -> UInt8[np.ndarray, "S S 3"]:
    """Area-average ``frame`` to ``size`` x ``size`` (each output pixel the mean of the input
    pixels it covers, fractional coverage weighted): no aliasing when shrinking, no OpenCV."""
    frame = np.asarray(frame)
    if frame.shape[:2] == (size, size):
        return frame.astype(np.uint8, copy=False)

    def weights(n_in: int) -> np.ndarray:
        # [size, n_in]: how much of input pixel j falls in output pixel i, rows summing to 1.
        edges = np.linspace(0.0, n_in, size + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        j = np.arange(n_in)[None, :]
        overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
        return overlap / overlap.sum(1, keepdims=True)

    rows = weights(frame.shape[0]).astype(np.float32)
    cols = weights(frame.shape[1]).astype(np.float32)
    out = np.tensordot(rows, frame.astype(np.float32), (1, 0))  # [size, W, 3]
    out = np.tensordot(out, cols, (1, 1)).transpose(0, 2, 1)  # [size, size, 3]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


class GymPixels(gymnasium.ObservationWrapper):
    """A Gymnasium env (made with ``render_mode="rgb_array"``) observed through its rendered
    frames, area-averaged to ``size`` x ``size``: ``uint8 [size, size, 3]``."""

    def __init__(self, env: gymnasium.Env, size: int):
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise EnvError(
                f"pixel observations need the env made with render_mode='rgb_array', got "
                f"{env.render_mode!r}."
            )
        self.size = size
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        del observation  # the state the env returns is what the agent must not see
        frame = self.env.render()
        if frame is None or np.ndim(frame) != 3 or np.shape(frame)[-1] != 3:
            raise EnvError(
                f"{self.env} rendered {None if frame is None else np.shape(frame)} instead of "
                "an RGB frame [H, W, 3]; pixel observations need render_mode='rgb_array'."
            )
        return resize_frame(frame, self.size)
