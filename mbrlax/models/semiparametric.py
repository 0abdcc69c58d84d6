"""Semi-parametric model: known physics plus a learned residual.

``f(s, a) = f_physics(s, a) + f_residual(s, a)``: a :class:`~mbrlax.models.physics.PhysicsModel`
carries what the equations of motion know (and extrapolates with them), and a
:class:`~mbrlax.models.ensemble.ProbabilisticEnsemble` learns what they miss (friction left
out, a wrong constant). Fitting identifies the physical constants first (least squares, see
:mod:`mbrlax.models.physics`), then trains the ensemble on the physics' one-step errors: it
is given transitions whose ``next_obs`` is ``obs + (next_obs - f_physics(obs, a))``, so the
"delta" it learns is exactly the residual.

    model = SemiParametricModel(PendulumPhysics(fitted=("m", "length")),
                                ProbabilisticEnsemble(EnsembleConfig(), obs_dim=3, action_dim=1))
    params = model.init(key)
    params, metrics = model.fit(params, buffer.data, buffer.size, key)
    next_obs, reward, terminated = model.step(params, obs, action, key, reward_fn=pendulum_reward)
"""

from __future__ import annotations

import dataclasses
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.models.base import (
    DynamicsModel,
    TaskFn,
    check_example,
    check_reward_fn,
    check_transitions,
    task_outcome,
)
from mbrlax.models.ensemble import EnsembleParams, ProbabilisticEnsemble
from mbrlax.models.physics import PhysicsModel, PhysicsParams


class SemiParametricParams(eqx.Module):
    """Parameters of a :class:`SemiParametricModel` (a pytree of arrays).

    Attributes:
        physics: the fitted physical constants.
        residual: the ensemble that predicts the physics' one-step error.
    """

    physics: PhysicsParams
    residual: EnsembleParams


@final
@dataclasses.dataclass(frozen=True)
class SemiParametricModel(DynamicsModel):
    """Physics plus a learned residual; static and hashable, methods pure in ``params``.

    Attributes:
        physics: the parametric model ``f_physics``.
        residual: the ensemble ``f_residual`` (same ``obs_dim`` and ``action_dim``; no reward
            or termination heads: those come from known functions, as for the physics).
        fit_physics: whether :meth:`fit` identifies the physical constants before training the
            residual (False: keep ``params.physics`` as given, e.g. trusted constants).
    """

    physics: PhysicsModel
    residual: ProbabilisticEnsemble
    fit_physics: bool = True

    def __post_init__(self):
        ph, res = self.physics, self.residual
        if (ph.obs_dim, ph.action_dim) != (res.obs_dim, res.action_dim):
            raise ValueError(
                f"physics (obs_dim={ph.obs_dim}, action_dim={ph.action_dim}) and residual "
                f"(obs_dim={res.obs_dim}, action_dim={res.action_dim}) must agree."
            )
        if res.config.learn_reward or res.config.learn_termination:
            raise ValueError(
                "the residual ensemble learns the physics' error in next_obs only: build it with "
                "EnsembleConfig(learn_reward=False, learn_termination=False) and pass reward_fn "
                "(and termination_fn) to step."
            )

    @property
    def obs_dim(self) -> int:
        """``d``, size of an observation."""
        return self.physics.obs_dim

    @property
    def action_dim(self) -> int:
        """``A``, size of an action."""
        return self.physics.action_dim

    def init(self, key: PRNGKeyArray) -> SemiParametricParams:
        """The physics' initial guesses and a fresh ensemble."""
        key_physics, key_residual = jax.random.split(key)
        return SemiParametricParams(
            self.physics.init(key_physics), self.residual.init(key_residual)
        )

    # ---- prediction --------------------------------------------------------------------------

    def _parts(
        self, params: SemiParametricParams, obs: Float[Array, " d"], action: Float[Array, " A"]
    ) -> tuple[Float[Array, " d"], Float[Array, "K d"], Float[Array, "K d"]]:
        """``(f_physics [d], residual means [K, d], residual variances [K, d])``, one row per
        elite of the residual ensemble."""
        physics = self.physics.dynamics(self.physics.theta(params.physics), obs, action)
        elites = self.residual.select_members(params.residual, params.residual.elite_idx)
        k = self.residual.config.num_elites
        pred = self.residual.predict_members(
            elites,
            jnp.broadcast_to(obs, (k, self.obs_dim)),
            jnp.broadcast_to(action, (k, self.action_dim)),
        )
        return physics, pred.mean, pred.var

    def predict(
        self, params: SemiParametricParams, obs: Float[Array, " d"], action: Float[Array, " A"]
    ) -> tuple[Float[Array, " d"], Float[Array, " d"]]:
        """``(mean [d], var [d])`` of ``next_obs``: ``f_physics +`` the elites' mean residual;
        the residual's predictive variance (mean of the elites' variances plus the variance
        of their means)."""
        obs, action = check_example(obs, action, self.obs_dim, self.action_dim)
        physics, mean, var = self._parts(params, obs, action)
        return physics + jnp.mean(mean, axis=0), jnp.mean(var, axis=0) + jnp.var(mean, axis=0)

    def expected_step(
        self,
        params: SemiParametricParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """The mean step of ONE example, ``(next_obs [d], reward [], terminated [])``: reward
        and termination from the given functions (``termination_fn=None``: never).

        Raises:
            ValueError: no ``reward_fn``.
        """
        check_reward_fn(reward_fn, type(self).__name__)
        obs, action = check_example(obs, action, self.obs_dim, self.action_dim)
        physics, mean, _ = self._parts(params, obs, action)
        next_obs = physics + jnp.mean(mean, axis=0)
        return next_obs, *task_outcome(obs, action, next_obs, reward_fn, termination_fn)

    def step(
        self,
        params: SemiParametricParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """One sampled step of ONE example: ``f_physics +`` a Gaussian sample of a uniformly
        random elite's residual (its mean if the ensemble is deterministic), as
        ``ProbabilisticEnsemble.step`` samples; ``(next_obs [d], reward [], terminated [])``.

        Raises:
            ValueError: no ``reward_fn``.
        """
        check_reward_fn(reward_fn, type(self).__name__)
        obs, action = check_example(obs, action, self.obs_dim, self.action_dim)
        physics, mean, var = self._parts(params, obs, action)
        key_member, key_noise = jax.random.split(key)
        m = jax.random.randint(key_member, (), 0, self.residual.config.num_elites)
        residual = mean[m]
        if self.residual.config.probabilistic:
            residual = residual + jnp.sqrt(var[m]) * jax.random.normal(key_noise, residual.shape)
        next_obs = physics + residual
        return next_obs, *task_outcome(obs, action, next_obs, reward_fn, termination_fn)

    # ---- fitting -----------------------------------------------------------------------------

    def fit(
        self,
        params: SemiParametricParams,
        data: Transition,
        size: Int[Array, ""] | int,
        key: PRNGKeyArray,
    ) -> tuple[SemiParametricParams, dict[str, Float[Array, ""]]]:
        """Identify the physics on rows ``[0, size)`` of ``data`` (if ``fit_physics``), then
        train the residual on what it misses (one jitted call; ``size`` traced, so a growing
        buffer compiles once per capacity).

        Returns ``(params, metrics)``: ``model_train_loss`` (mean squared one-step error per
        entry of the combined model on the rows, mean residual), ``physics_train_loss`` (the
        same for the physics alone), the physics fit's ``sysid_*`` metrics (when fitted) and
        the ensemble's metrics prefixed ``residual_``.
        """
        check_transitions(data, self.obs_dim, self.action_dim)
        capacity = data.obs.shape[0]
        if not isinstance(size, jax.core.Tracer) and not 1 <= int(size) <= capacity:
            raise ValueError(
                f"fit needs 1 <= size <= capacity={capacity} filled rows, got {int(size)}; add "
                "data to the buffer first."
            )
        return _fit_jit(self, params, data, jnp.asarray(size, jnp.int32), key)


def _fit(
    model: SemiParametricModel,
    params: SemiParametricParams,
    data: Transition,
    size: Int[Array, ""],
    key: PRNGKeyArray,
) -> tuple[SemiParametricParams, dict[str, Float[Array, ""]]]:
    key_physics, key_residual = jax.random.split(key)
    metrics: dict[str, Float[Array, ""]] = {}
    physics = params.physics
    if model.fit_physics:
        physics, physics_metrics = model.physics.fit(physics, data, size, key_physics)
        metrics.update({k: v for k, v in physics_metrics.items() if k.startswith("sysid_")})
    theta = model.physics.theta(physics)
    obs = jnp.asarray(data.obs, jnp.float32)
    next_obs = jnp.asarray(data.next_obs, jnp.float32)
    action = jnp.asarray(data.action, jnp.float32)
    pred = jax.vmap(lambda o, a: model.physics.dynamics(theta, o, a))(obs, action)
    valid = (jnp.arange(obs.shape[0]) < size)[:, None]
    # Rows past `size` are zeroed: whatever they hold (and the physics' nan on it) must not
    # reach the ensemble, whose masked normaliser sums would turn a nan into nan statistics.
    residual_data = Transition(
        obs=jnp.where(valid, obs, 0.0),
        action=jnp.where(valid, action, 0.0),
        reward=jnp.where(valid[:, 0], data.reward, 0.0),
        next_obs=jnp.where(valid, obs + (next_obs - pred), 0.0),
        terminated=jnp.where(valid[:, 0], data.terminated, False),
    )
    residual, residual_metrics = model.residual.fit(
        params.residual, residual_data, size, key_residual
    )
    metrics.update({f"residual_{k}": v for k, v in residual_metrics.items()})
    new = SemiParametricParams(physics, residual)

    def mean_next(o: Float[Array, " d"], a: Float[Array, " A"]) -> Float[Array, " d"]:
        physics_next, mean, _ = model._parts(new, o, a)
        return physics_next + jnp.mean(mean, axis=0)

    count = jnp.maximum(jnp.minimum(size, obs.shape[0]), 1).astype(jnp.float32) * obs.shape[1]

    def loss(prediction: Float[Array, "C d"]) -> Float[Array, ""]:
        return jnp.sum(jnp.where(valid, jnp.square(prediction - next_obs), 0.0)) / count

    metrics["model_train_loss"] = loss(jax.vmap(mean_next)(obs, action))
    metrics["physics_train_loss"] = loss(pred)
    return new, metrics


# Compiled once per (model, capacity): `size` is a traced argument.
_fit_jit = jax.jit(_fit, static_argnums=0)


__all__ = ["SemiParametricModel", "SemiParametricParams"]
