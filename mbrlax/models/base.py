"""The model interface: what every model of mbrlax is, and the checks they all share.

A model answers "what happens if I do x?" for one example, whatever it is inside (an
ensemble of networks, a Gaussian process, physics with fitted constants, physics plus a
learned residual):

    params = model.init(key)
    params, metrics = model.fit(params, buffer.data, buffer.size, key)
    next_obs, reward, terminated = model.step(params, obs, action, key, reward_fn, termination_fn)
    next_obs, reward, terminated = model.expected_step(params, obs, action, reward_fn, ...)

``step`` samples (``expected_step`` takes the mean) and works on ONE example; ``vmap`` batches
it, and a planner uses it as any other ``step``. Rewards and terminations come from the known
task functions when given, else from the model's own heads where it has them.
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.envs.tasks import TaskFn


class DynamicsModel(abc.ABC):
    """The interface every model implements (a frozen dataclass, static and hashable, so
    jitted functions take it as a static argument). It has ``obs_dim`` and ``action_dim``.
    """

    obs_dim: int
    action_dim: int

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray) -> Any:
        """Fresh parameters (a pytree of arrays)."""

    @abc.abstractmethod
    def fit(
        self, params: Any, data: Transition, size: Int[Array, ""] | int, key: PRNGKeyArray
    ) -> tuple[Any, dict[str, Float[Array, ""]]]:
        """Fit to the first ``size`` rows of ``data`` (capacity-sized arrays, ``buffer.data``);
        returns ``(params, metrics)``."""

    @abc.abstractmethod
    def step(
        self,
        params: Any,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """``(next_obs [d], reward [], terminated [])`` of one example, sampled."""

    @abc.abstractmethod
    def expected_step(
        self,
        params: Any,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """``(next_obs [d], reward [], terminated [])`` of one example, the mean prediction."""

    def check_example(self, obs: Array, action: Array, dtype=jnp.float32) -> tuple[Array, Array]:
        """``(obs [d], action [A])`` as ``dtype``; a ValueError on any other shapes."""
        return check_example(obs, action, self.obs_dim, self.action_dim, dtype)

    def check_fit_data(
        self, data: Transition, size: Int[Array, ""] | int, fields: tuple[str, ...] = ()
    ) -> None:
        """Raise a TypeError / ValueError saying what is wrong unless ``data`` holds ``C`` rows
        of obs ``[C, d]``, action ``[C, A]``, next_obs ``[C, d]`` (and of the ``fields``
        ``"reward"`` / ``"terminated"``, ``[C]``, for a model that learns them), and a
        concrete ``size`` is a count of filled rows, ``1 <= size <= C``."""
        check_transitions(data, self.obs_dim, self.action_dim, fields)
        if not isinstance(size, jax.core.Tracer):
            n, capacity = int(size), data.obs.shape[0]
            if not 1 <= n <= capacity:
                raise ValueError(
                    f"fit needs 1 <= size <= capacity={capacity} filled rows, got {n}; add "
                    "data to the buffer first."
                )


def check_example(
    obs: Array, action: Array, obs_dim: int, action_dim: int, dtype=jnp.float32
) -> tuple[Float[Array, " d"], Float[Array, " A"]]:
    """``(obs [d], action [A])`` as ``dtype``; raises a ValueError on other shapes."""
    obs = jnp.asarray(obs, dtype)
    action = jnp.asarray(action, dtype)
    if action.shape == () and action_dim == 1:
        action = action[None]  # a discrete action index or a scalar action
    if obs.shape != (obs_dim,) or action.shape != (action_dim,):
        raise ValueError(
            f"expected one example, obs [{obs_dim}] and action [{action_dim}], got "
            f"{list(obs.shape)} and {list(action.shape)}; vmap over batches."
        )
    return obs, action


def check_transitions(
    data: Transition, obs_dim: int, action_dim: int, fields: tuple[str, ...] = ()
) -> None:
    """Raise a TypeError / ValueError unless ``data`` is a Transition of ``C`` rows of
    obs ``[C, d]``, action ``[C, A]``, next_obs ``[C, d]`` (and ``[C]`` for each of
    ``fields``, among ``"reward"`` and ``"terminated"``)."""
    if not isinstance(data, Transition):
        raise TypeError(f"fit expects a Transition of arrays, got {type(data).__name__}.")
    c = data.obs.shape[0] if jnp.ndim(data.obs) else -1
    want = {"obs": (c, obs_dim), "action": (c, action_dim)}
    want.update({name: (c,) for name in fields if name == "reward"})
    want["next_obs"] = (c, obs_dim)
    want.update({name: (c,) for name in fields if name == "terminated"})
    for name, shape in want.items():
        got = tuple(jnp.shape(getattr(data, name)))
        if got != shape:
            raise ValueError(
                f"fit: data.{name} has shape {list(got)}, expected {list(shape)} "
                f"(capacity C={c}, obs_dim={obs_dim}, action_dim={action_dim})."
            )


def check_reward_fn(reward_fn: TaskFn | None, model_name: str) -> None:
    """Raise a ValueError saying what to pass when a model without a reward head gets none."""
    if reward_fn is None:
        raise ValueError(
            f"{model_name} predicts observations only: pass reward_fn=(obs, action, next_obs) "
            "-> [] (e.g. mbrlax.envs.tasks.pendulum_reward, or get_task(env_id).reward), and "
            "termination_fn if the env terminates."
        )


def task_outcome(
    obs: Float[Array, " d"],
    action: Float[Array, " A"],
    next_obs: Float[Array, " d"],
    reward_fn: TaskFn,
    termination_fn: TaskFn | None,
    dtype=jnp.float32,
) -> tuple[Float[Array, ""], Bool[Array, ""]]:
    """``(reward [], terminated [])`` of one example from the known functions
    (``termination_fn=None``: never terminates)."""
    reward = jnp.asarray(reward_fn(obs, action, next_obs), dtype)
    if termination_fn is None:
        return reward, jnp.array(False)
    return reward, jnp.asarray(termination_fn(obs, action, next_obs), bool)
