"""JAX-native environments: pure, differentiable ``reset(key)`` / ``step(state, action)``."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.envs.spec import EnvSpec
from mbrlax.errors import EnvError as EnvError  # raised by the envs; re-exported here

EnvState = Any  # a pytree, defined by each env


class EnvStep(NamedTuple):
    """What ``JaxEnv.step`` returns for one example."""

    state: EnvState
    obs: Float[Array, " obs_dim"]
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]


class JaxEnv(eqx.Module):
    """Abstract JAX-native env. Concrete envs are final and implement the abstract members.

    ``step`` is pure and differentiable in ``state`` and ``action``, so an env doubles as a
    known model for planners (see :func:`mbrlax.envs.as_step_fn`). Time limits are not part of
    the state: the runner truncates after ``spec.max_episode_steps``.
    """

    @property
    @abc.abstractmethod
    def spec(self) -> EnvSpec: ...

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> tuple[EnvState, Float[Array, " obs_dim"]]:
        """Sample an initial state; returns ``(state, obs [obs_dim])``."""

    @abc.abstractmethod
    def step(self, state: EnvState, action: Float[Array, " action_dim"]) -> EnvStep:
        """Advance one step; actions outside the bounds are clipped as Gymnasium would."""

    @abc.abstractmethod
    def observe(self, state: EnvState) -> Float[Array, " obs_dim"]:
        """The observation of a state."""

    def next_episode(
        self, state: EnvState, key: PRNGKeyArray
    ) -> tuple[EnvState, Float[Array, " obs_dim"]]:
        """The first state of the episode after one that ended in ``state``, within one run.

        The default is a fresh :meth:`reset`. An env whose world changes over a run (the
        blocking and shortcut mazes, whose walls move at a global step) overrides it to carry
        that on; :class:`mbrlax.envs.jax_gym.JaxGymEnv` calls it on every reset but the first.
        """
        del state  # episodes are independent
        return self.reset(key)

    def state_from_obs(self, obs: Float[Array, " obs_dim"]) -> EnvState:
        """The state whose observation is ``obs``: the inverse of :meth:`observe`.

        Lets an agent that sees only observations (as every agent driven by the runner does)
        plan through the env as a known model (``mbrlax.agents.mpc.KnownModelMPC``). Envs
        whose observation does not determine the state do not override it and raise.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot recover its state from an observation (its "
            "observation does not determine the state), so it cannot serve as a known model "
            "for an agent that sees observations; plan on its states with "
            "mbrlax.agents.mpc.mpc_rollout instead, or learn a model (PETS)."
        )


# Structurally the planners' ``StepFn`` (mbrlax/planners/base.py); spelled out here so that envs,
# the bottom layer, import nothing from planners.
EnvStepFn = Callable[
    [EnvState, Float[Array, " action_dim"], PRNGKeyArray],
    tuple[EnvState, Float[Array, ""], Bool[Array, ""]],
]


def rk4_step(derivative: Callable[[Any], Any], state: Any, h: float) -> Any:
    """One classic Runge-Kutta 4 step of ``h`` for ``d state / dt = derivative(state)``,
    ``state`` any pytree of arrays (the derivative returns the same structure)."""

    def shifted(k: Any, scale: float) -> Any:
        return jax.tree.map(lambda s, d: s + scale * d, state, k)

    k1 = derivative(state)
    k2 = derivative(shifted(k1, h / 2))
    k3 = derivative(shifted(k2, h / 2))
    k4 = derivative(shifted(k3, h))
    return jax.tree.map(
        lambda s, d1, d2, d3, d4: s + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4), state, k1, k2, k3, k4
    )


def as_step_fn(env: JaxEnv) -> EnvStepFn:
    """Turn a JAX env into the planners' transition function (a known, exact model).

    The returned ``step(state, action [A], key) -> (next_state, reward [], terminated [])``
    ignores ``key`` (the envs here are deterministic) and is jittable and differentiable,
    so the true env can be given to any planner in place of a learned model.
    """

    def step(
        state: EnvState, action: Float[Array, " action_dim"], key: PRNGKeyArray
    ) -> tuple[EnvState, Float[Array, ""], Bool[Array, ""]]:
        del key  # deterministic dynamics; kept so the signature matches learned models
        out = env.step(state, action)
        return out.state, out.reward, out.terminated

    return step
