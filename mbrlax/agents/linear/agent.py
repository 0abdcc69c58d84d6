"""Linear-model MPC: fit the state change as a linear function of state and action by ridge
regression, and plan through that model with the env's known reward.

    next_obs = obs + [obs, action, 1] @ W        W: [obs_dim + action_dim + 1, obs_dim]

The simplest learned model, least-squares system identification: exact for a linear system
(``mbrlax/PointMass-v0`` is one, so one random episode identifies it), a local approximation
elsewhere (balancing near an equilibrium). It is the example agent of
``docs/adding_an_agent.md``: a config, a state, and ``init`` / ``begin_episode`` / ``act`` /
``update`` as pure functions of that state, reusing the planners and the task functions.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions, check_task
from mbrlax.planners import CEM, SamplingPlanner


@dataclasses.dataclass(frozen=True)
class LinearMPCConfig:
    """Linear-model MPC hyper-parameters.

    Attributes:
        planner: the optimiser of action sequences through the fitted model.
        ridge: the L2 penalty of the least-squares fit, relative to the mean squared feature
            (keeps the fit defined before the data span every direction).
    """

    planner: SamplingPlanner = CEM(horizon=20, population=200, num_elites=20, iterations=4)
    ridge: float = 1e-4

    def __post_init__(self):
        if not self.ridge >= 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}; 1e-4 is the default.")


class LinearMPCState(NamedTuple):
    """Agent state: the model's weights ``[obs_dim + action_dim + 1, obs_dim]`` and the
    planner's warm start."""

    weights: Float[Array, "F D"]
    planner_state: Any  # the planner's own state (e.g. GaussianState for CEM)


def features(obs: Float[Array, " D"], action: Float[Array, " A"]) -> Float[Array, " F"]:
    """The regressors of one transition: ``[obs, action, 1]``."""
    return jnp.concatenate([obs, action, jnp.ones((1,), obs.dtype)])


@dataclasses.dataclass(frozen=True)
class LinearMPC:
    """Linear-model MPC for one env (``spec``) with a known reward (``task``).

    Static and hashable: ``act`` and ``update`` compile once.
    """

    config: LinearMPCConfig
    spec: EnvSpec
    task: TaskFunctions | None

    def __post_init__(self):
        if not self.spec.is_continuous or self.spec.is_tabular:
            has = "discrete observations" if self.spec.is_tabular else "Discrete actions"
            raise ValueError(
                f"LinearMPC fits vector observations and plans Box actions, and "
                f"{self.spec.env_id} has {has}; "
                "use `mbrlax train dyna-q` (tabular) or `muzero` (discrete actions)."
            )
        if self.task is None or self.task.reward is None:
            raise ValueError(
                f"LinearMPC plans on a known reward, and mbrlax knows none for "
                f"{self.spec.env_id}; register it with mbrlax.envs.register_task, or use "
                "`mbrlax train pets`, which learns the reward."
            )
        check_task(self.task, self.spec)

    @functools.cached_property
    def planner(self):
        return self.config.planner.build_for(self.spec)

    def init(self, key: PRNGKeyArray) -> LinearMPCState:
        """Weights of zero (a model that predicts no change) and a fresh plan."""
        del key  # nothing random: the first fit replaces the weights
        size = self.spec.obs_dim + self.spec.action_dim + 1
        return LinearMPCState(jnp.zeros((size, self.spec.obs_dim)), self.planner.init())

    def begin_episode(self, state: LinearMPCState) -> LinearMPCState:
        return state._replace(planner_state=self.planner.init())

    def step(self, weights: Float[Array, "F D"]):
        """The model as a planner's ``step``: ``(obs, action, key) -> (next_obs, reward, done)``."""
        termination = self.task.termination

        def step(obs, action, key) -> tuple[Float[Array, " D"], Float[Array, ""], Bool[Array, ""]]:
            del key  # the model is deterministic
            next_obs = obs + features(obs, action) @ weights
            done = jnp.bool_(False) if termination is None else termination(obs, action, next_obs)
            return next_obs, self.task.reward(obs, action, next_obs), done

        return step

    @functools.partial(jax.jit, static_argnums=0)
    def act(
        self, state: LinearMPCState, obs: Float[Array, " D"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], LinearMPCState, dict[str, Array]]:
        """Plan from ``obs`` through the fitted model; returns ``(action [A], state, info)``."""
        obs = jnp.asarray(obs, jnp.float32)
        action, pstate, info = self.planner.plan(
            state.planner_state, self.step(state.weights), obs, key
        )
        return action, state._replace(planner_state=pstate), info

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: LinearMPCState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[LinearMPCState, dict[str, Array]]:
        """Refit the weights on every transition in ``buffer`` (ridge least squares)."""
        del key
        data = buffer.data
        x = jax.vmap(features)(data.obs, data.action)  # [N, F]
        y = data.next_obs - data.obs  # [N, D]
        filled = (jnp.arange(x.shape[0]) < buffer.size)[:, None]
        x, y = jnp.where(filled, x, 0.0), jnp.where(filled, y, 0.0)
        gram = x.T @ x
        penalty = self.config.ridge * jnp.trace(gram) / x.shape[1]
        weights = jnp.linalg.solve(gram + penalty * jnp.eye(x.shape[1]), x.T @ y)
        error = jnp.sum(jnp.where(filled, (x @ weights - y) ** 2, 0.0))
        mse = error / (jnp.maximum(buffer.size, 1) * y.shape[1])
        return state._replace(weights=weights), {"train_loss": mse}
