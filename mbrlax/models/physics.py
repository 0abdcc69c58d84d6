"""Parametric physics models: known equations of motion whose constants are fitted to data.

A :class:`PhysicsModel` predicts the next observation with the env's own equations
(``mbrlax.envs.pendulum.pendulum_dynamics``, ``mbrlax.envs.bicycle.bicycle_dynamics``) and
named physical constants, some fixed and some fitted. Fitting is *system identification*: the
fitted constants minimise the squared one-step prediction error over the filled rows of a
replay buffer, by Levenberg-Marquardt (Gauss-Newton with adaptive damping; Nocedal & Wright,
*Numerical Optimization*, sec. 10.3). Positive constants are fitted as logarithms. From the
fit come a per-dimension residual variance (the noise the equations do not explain, the
model's predictive variance) and the constants' covariance, ``(J^T J)^-1 J^T S J (J^T J)^-1``
with ``S`` the residual variances, which is ``sigma^2 (J^T J)^-1`` when every dimension is
equally noisy, mapped to natural units by the delta method: standard errors per constant.

    model = PendulumPhysics(m=1.3, length=0.7)            # initial guesses of m, length, damping
    params = model.init(key)
    params, metrics = model.fit(params, buffer.data, buffer.size, key)   # one jitted call
    model.named(params), model.standard_errors(params)    # {"m": 1.02, ...}, {"m": 0.004, ...}
    next_obs, reward, terminated = model.step(params, obs, action, key, reward_fn=pendulum_reward)

Every model here is a frozen, hashable dataclass; its methods are pure functions of
``params`` (a :class:`PhysicsParams` pytree), jittable with the model static.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.envs.bicycle import (
    TRACK,
    BicycleState,
    StadiumTrack,
    bicycle_dynamics,
    bicycle_observe,
)
from mbrlax.envs.pendulum import PendulumState, pendulum_dynamics, pendulum_observe
from mbrlax.models.base import (
    DynamicsModel,
    TaskFn,
    check_example,
    check_reward_fn,
    task_outcome,
)

Theta = Mapping[str, Float[Array, ""] | float]
"""Physical constants by name: fitted ones as ``[]`` arrays, fixed ones as Python floats."""


class PhysicsParams(eqx.Module):
    """The fitted state of a :class:`PhysicsModel` (a pytree of arrays).

    Attributes:
        values: ``[P]`` the fitted constants in natural units, in the order of the model's
            ``fitted`` (the initial guesses until the first ``fit``).
        cov: ``[P, P]`` their covariance (natural units) from the last fit; zeros before.
        noise_var: ``[d]`` per-dimension variance of the one-step residuals of the last fit
            (the predictive variance of ``predict``); zeros before.
        num_rows: ``[]`` int32, rows the last fit used (0: never fitted).
    """

    values: Float[Array, " P"]
    cov: Float[Array, "P P"]
    noise_var: Float[Array, " d"]
    num_rows: Int[Array, ""]


@dataclasses.dataclass(frozen=True)
class LevenbergMarquardt:
    """How :meth:`PhysicsModel.fit` solves the least-squares problem.

    Each iteration solves ``(J^T J + lambda diag(J^T J)) step = -J^T r`` (Marquardt's scaling)
    and keeps the step only if it lowers the squared error; ``lambda`` shrinks after a kept
    step (towards Gauss-Newton, quadratic convergence on exact data) and grows after a
    rejected one (towards a short gradient step).

    Attributes:
        iterations: steps, run as one ``lax.scan`` (a converged fit's later steps are no-ops).
        initial_damping: ``lambda`` at the first step.
        increase: factor on ``lambda`` after a rejected step (> 1).
        decrease: factor on ``lambda`` after a kept step (in ``(0, 1)``).
    """

    iterations: int = 40
    initial_damping: float = 1e-3
    increase: float = 10.0
    decrease: float = 0.3

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"LevenbergMarquardt.iterations must be >= 1, got {self.iterations}.")
        if not self.initial_damping > 0:
            raise ValueError(f"initial_damping must be > 0, got {self.initial_damping}.")
        if not (self.increase > 1 and 0 < self.decrease < 1):
            raise ValueError(
                f"need increase > 1 and 0 < decrease < 1, got {self.increase}, {self.decrease}."
            )


class _LMCarry(NamedTuple):
    """Levenberg-Marquardt's state: the best point so far and the next candidate."""

    z: Float[Array, " P"]  # best fitted constants so far (logs of the positive ones)
    residuals: Float[Array, " R"]  # at z, R = C d
    jac: Float[Array, "R P"]  # d residuals / d z at z
    cost: Float[Array, ""]  # sum of squared residuals at z
    candidate: Float[Array, " P"]  # the point the next iteration tries
    damping: Float[Array, ""]  # lambda


class PhysicsModel(DynamicsModel):
    """Abstract physics model: ``next_obs = dynamics(theta, obs, action)``, deterministic.

    A concrete model is a final frozen dataclass whose fields hold one value per name of
    ``param_names`` (the fixed values and the initial guesses of the fitted ones), the names
    it fits (``fitted``) and the solver (``solver``); it implements the abstract members.
    """

    # ---- what a concrete model defines -------------------------------------------------------

    @property
    @abc.abstractmethod
    def obs_dim(self) -> int:
        """``d``, size of an observation."""

    @property
    @abc.abstractmethod
    def action_dim(self) -> int:
        """``A``, size of an action."""

    @property
    @abc.abstractmethod
    def param_names(self) -> tuple[str, ...]:
        """Every named constant of the dynamics (each one a float field of the model)."""

    @property
    @abc.abstractmethod
    def positive(self) -> frozenset[str]:
        """The names of constants that must stay positive (fitted as logarithms)."""

    @property
    @abc.abstractmethod
    def fitted(self) -> tuple[str, ...]:
        """The names fitted by :meth:`fit`, in the order of ``PhysicsParams.values``."""

    @property
    @abc.abstractmethod
    def solver(self) -> LevenbergMarquardt:
        """The least-squares solver of :meth:`fit`."""

    @abc.abstractmethod
    def dynamics(
        self, theta: Theta, obs: Float[Array, " d"], action: Float[Array, " A"]
    ) -> Float[Array, " d"]:
        """``next_obs [d]`` of one example under the constants ``theta`` (every name of
        ``param_names``); pure and differentiable in the fitted constants."""

    # ---- shared ------------------------------------------------------------------------------

    def __post_init__(self):
        names = self.param_names
        unknown = [n for n in self.fitted if n not in names]
        if unknown or len(set(self.fitted)) != len(self.fitted):
            raise ValueError(
                f"{type(self).__name__}.fitted must be distinct names among {names}, got "
                f"{self.fitted}."
            )
        for name in names:
            value = getattr(self, name)
            if not math.isfinite(value) or (name in self.positive and value <= 0):
                kind = "a positive" if name in self.positive else "a finite"
                raise ValueError(
                    f"{type(self).__name__}.{name} must be {kind} number, got {value}."
                )

    @property
    def defaults(self) -> Float[np.ndarray, " N"]:
        """``[len(param_names)]`` float32: every constant's value as constructed (fixed values
        and initial guesses)."""
        return np.array([getattr(self, n) for n in self.param_names], np.float32)

    def init(self, key: PRNGKeyArray) -> PhysicsParams:
        """Params holding the initial guesses (``key`` is unused: nothing is random)."""
        del key
        p = len(self.fitted)
        return PhysicsParams(
            values=jnp.array([getattr(self, n) for n in self.fitted], jnp.float32).reshape(p),
            cov=jnp.zeros((p, p), jnp.float32),
            noise_var=jnp.zeros((self.obs_dim,), jnp.float32),
            num_rows=jnp.zeros((), jnp.int32),
        )

    def theta(self, params: PhysicsParams) -> dict[str, Float[Array, ""] | float]:
        """All constants by name: fitted ones from ``params`` (``[]`` arrays), the others the
        model's Python floats (so that at the env's values the model computes what it does)."""
        return self._theta(params.values)

    def _theta(self, values: Float[Array, " P"]) -> dict[str, Float[Array, ""] | float]:
        theta: dict[str, Float[Array, ""] | float] = {
            n: float(getattr(self, n)) for n in self.param_names
        }
        theta.update({n: values[i] for i, n in enumerate(self.fitted)})
        return theta

    def named(self, params: PhysicsParams) -> dict[str, float]:
        """Host side: every constant's current value by name (fitted and fixed)."""
        values = np.asarray(params.values)
        out = {n: float(getattr(self, n)) for n in self.param_names}
        out.update({n: float(v) for n, v in zip(self.fitted, values, strict=True)})
        return out

    def standard_errors(self, params: PhysicsParams) -> dict[str, float]:
        """Host side: the standard error of each fitted constant from the last fit (NaN if
        never fitted)."""
        se = np.sqrt(np.maximum(np.diag(np.asarray(params.cov)), 0.0))
        if int(params.num_rows) == 0:
            se = np.full_like(se, np.nan)
        return {n: float(s) for n, s in zip(self.fitted, se, strict=True)}

    # ---- prediction --------------------------------------------------------------------------

    def predict(
        self, params: PhysicsParams, obs: Float[Array, " d"], action: Float[Array, " A"]
    ) -> tuple[Float[Array, " d"], Float[Array, " d"]]:
        """``(mean [d], var [d])`` of ``next_obs``: the dynamics and the fitted residual
        variance."""
        obs, action = check_example(obs, action, self.obs_dim, self.action_dim)
        return self.dynamics(self.theta(params), obs, action), params.noise_var

    def expected_step(
        self,
        params: PhysicsParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """``(next_obs [d], reward [], terminated [])`` of ONE example by the dynamics, reward
        and termination from the given functions of ``(obs, action, next_obs)``
        (``termination_fn=None``: never terminates).

        Raises:
            ValueError: no ``reward_fn`` (a physics model predicts no reward).
        """
        check_reward_fn(reward_fn, type(self).__name__)
        obs, action = check_example(obs, action, self.obs_dim, self.action_dim)
        next_obs = self.dynamics(self.theta(params), obs, action)
        return next_obs, *task_outcome(obs, action, next_obs, reward_fn, termination_fn)

    def step(
        self,
        params: PhysicsParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """Same as :meth:`expected_step`: the physics is deterministic (``key`` is unused)."""
        del key
        return self.expected_step(params, obs, action, reward_fn, termination_fn)

    # ---- system identification ---------------------------------------------------------------

    def fit(
        self,
        params: PhysicsParams,
        data: Transition,
        size: Int[Array, ""] | int,
        key: PRNGKeyArray,
    ) -> tuple[PhysicsParams, dict[str, Float[Array, ""]]]:
        """Fit the constants named in ``fitted`` to rows ``[0, size)`` of ``data`` (one jitted
        call), starting from ``params.values``.

        ``data`` holds capacity-sized arrays (``buffer.data``: obs ``[C, d]``, action ``[C, A]``,
        next_obs ``[C, d]``; reward and terminated are not used); rows from ``size`` on are
        masked out, and ``size`` is traced, so a growing buffer compiles once per capacity.
        ``key`` is unused (the fit is deterministic).

        Returns ``(params, metrics)`` with metrics ``model_train_loss`` (mean squared one-step
        error per entry after the fit), ``sysid_initial_loss`` (the same before) and
        ``sysid_damping`` (the final Levenberg-Marquardt ``lambda``).
        """
        del key
        self.check_fit_data(data, size)
        if not isinstance(size, jax.core.Tracer) and int(size) * self.obs_dim <= len(self.fitted):
            raise ValueError(
                f"fit needs more residuals (size x obs_dim = {int(size) * self.obs_dim}) than "
                f"fitted constants ({len(self.fitted)}); add data."
            )
        # The initial guesses of fitted constants live in `params`, not in the compiled fit:
        # models that differ only in them share one compilation.
        canonical = dataclasses.replace(self, **{n: 1.0 for n in self.fitted})
        return _fit_jit(canonical, params, data, jnp.asarray(size, jnp.int32))

    def _natural(self, z: Float[Array, " P"]) -> Float[Array, " P"]:
        """Fitted coordinates -> natural units (``exp`` of the positive constants' logs)."""
        if not self.fitted:
            return z
        return jnp.stack(
            [jnp.exp(z[i]) if n in self.positive else z[i] for i, n in enumerate(self.fitted)]
        )

    def _unconstrained(self, values: Float[Array, " P"]) -> Float[Array, " P"]:
        """Natural units -> fitted coordinates (``log`` of the positive constants)."""
        if not self.fitted:
            return values
        # A non-positive value of a positive constant (reachable only by editing params) is
        # floored rather than turned into -inf or nan.
        return jnp.stack(
            [
                jnp.log(jnp.maximum(values[i], 1e-30)) if n in self.positive else values[i]
                for i, n in enumerate(self.fitted)
            ]
        )

    def _residuals(
        self, z: Float[Array, " P"], data: Transition, mask: Bool[Array, " C"]
    ) -> Float[Array, "C d"]:
        """``prediction - next_obs`` per row, zero on masked rows (``where``, so that a NaN
        predicted from an empty row's zeros cannot leak into sums or derivatives)."""
        theta = self._theta(self._natural(z))
        pred = jax.vmap(lambda o, a: self.dynamics(theta, o, a))(data.obs, data.action)
        return jnp.where(mask[:, None], pred - data.next_obs, 0.0)


def _levenberg_marquardt(
    model: PhysicsModel, z0: Float[Array, " P"], data: Transition, mask: Bool[Array, " C"]
) -> tuple[_LMCarry, Float[Array, ""]]:
    """Minimise the squared residuals from ``z0``; returns the final carry (its ``z`` the
    best point) and the cost at ``z0``."""
    solver = model.solver

    def residuals(z: Float[Array, " P"]) -> tuple[Float[Array, " R"], Float[Array, " R"]]:
        r = model._residuals(z, data, mask).reshape(-1)
        return r, r

    def body(c: _LMCarry, _) -> tuple[_LMCarry, Float[Array, ""]]:
        # Each iteration linearises only its candidate (one trace of the dynamics in all, so
        # one compile); a kept candidate's Jacobian gives the next step.
        jac, r = jax.jacfwd(residuals, has_aux=True)(c.candidate)
        cost = jnp.sum(jnp.square(r))
        better = jnp.isfinite(cost) & (cost < c.cost)
        keep = functools.partial(jnp.where, better)
        z, r, jac, best = (
            keep(c.candidate, c.z),
            keep(r, c.residuals),
            keep(jac, c.jac),
            keep(cost, c.cost),
        )
        damping = jnp.where(
            better,
            jnp.maximum(c.damping * solver.decrease, 1e-12),
            jnp.minimum(c.damping * solver.increase, 1e12),
        )
        hess = jac.T @ jac
        # Marquardt's scaling, floored so that a constant the data do not move stays solvable.
        scale = jnp.maximum(jnp.diag(hess), 1e-12 * jnp.max(jnp.diag(hess)) + 1e-30)
        step = jnp.linalg.solve(hess + damping * jnp.diag(scale), -(jac.T @ r))
        return _LMCarry(z, r, jac, best, z + step, damping), cost

    p, rows = z0.shape[0], data.obs.size
    # The first iteration evaluates z0 itself (any finite cost beats inf), with the damping
    # divided in advance by the factor that keeping it applies.
    init = _LMCarry(
        z=z0,
        residuals=jnp.zeros((rows,)),
        jac=jnp.zeros((rows, p)),
        cost=jnp.asarray(jnp.inf, jnp.float32),
        candidate=z0,
        damping=jnp.asarray(solver.initial_damping / solver.decrease, jnp.float32),
    )
    out, costs = jax.lax.scan(body, init, None, length=solver.iterations + 1)
    return out, costs[0]


def _fit(
    model: PhysicsModel, params: PhysicsParams, data: Transition, size: Int[Array, ""]
) -> tuple[PhysicsParams, dict[str, Float[Array, ""]]]:
    capacity, d = data.obs.shape
    data = Transition(
        obs=jnp.asarray(data.obs, jnp.float32),
        action=jnp.asarray(data.action, jnp.float32),
        reward=data.reward,
        next_obs=jnp.asarray(data.next_obs, jnp.float32),
        terminated=data.terminated,
    )
    p = len(model.fitted)
    n = jnp.clip(size, 0, capacity)
    mask = jnp.arange(capacity) < n
    n_f = jnp.maximum(n, 1).astype(jnp.float32)
    z = model._unconstrained(params.values)
    if p:
        out, cost0 = _levenberg_marquardt(model, z, data, mask)
        z, damping = out.z, out.damping
        r, jac = out.residuals.reshape(capacity, d), out.jac.reshape(capacity, d, p)
    else:
        r = model._residuals(z, data, mask)
        cost0, damping, jac = jnp.sum(jnp.square(r)), jnp.zeros(()), jnp.zeros((capacity, d, 0))
    # Unbiased per dimension when the residual degrees of freedom n d - P are shared equally.
    noise_var = jnp.sum(jnp.square(r), axis=0) / jnp.maximum(n_f - p / d, 1.0)
    # Sandwich covariance of least squares with per-dimension noise (sigma^2 (J^T J)^-1 when
    # all dimensions are equally noisy), then the delta method from z to natural units.
    bread = jnp.linalg.inv(jnp.einsum("cdi,cdj->ij", jac, jac))
    cov_z = bread @ jnp.einsum("cdi,d,cdj->ij", jac, noise_var, jac) @ bread
    dvalue_dz = jax.jacfwd(model._natural)(z)  # [P, P], diagonal
    new = PhysicsParams(
        values=model._natural(z),
        cov=dvalue_dz @ cov_z @ dvalue_dz.T,
        noise_var=noise_var,
        num_rows=n.astype(jnp.int32),
    )
    metrics = {
        "model_train_loss": jnp.sum(jnp.square(r)) / (n_f * d),
        "sysid_initial_loss": cost0 / (n_f * d),
        "sysid_damping": damping,
    }
    return new, metrics


# Compiled once per (model, capacity): `size` is a traced argument.
_fit_jit = jax.jit(_fit, static_argnums=0)


# ---- the concrete models -----------------------------------------------------------------------


@final
@dataclasses.dataclass(frozen=True)
class PendulumPhysics(PhysicsModel):
    """The pendulum of ``mbrlax/Pendulum-v0`` (:func:`mbrlax.envs.pendulum.pendulum_dynamics`).

    Observation ``[cos th, sin th, th_dot]``, action ``[torque]`` (clipped to
    ``+-max_torque``). The angle is read back as ``atan2(sin, cos)``, as
    ``Pendulum.state_from_obs`` does. The float fields are the constants (fixed values, or
    the initial guesses of those named in ``fitted``); the defaults are the env's.
    ``g``, ``m`` and ``length`` are not jointly identifiable (the dynamics see only ``g / l``,
    ``m l^2`` and ``damping / (m l^2)``): fit at most three of ``g, m, length, damping``, and
    not all of ``g, m, length``.

    Attributes:
        g: gravity (m/s^2).
        m: rod mass (kg).
        length: rod length (m).
        damping: viscous damping coefficient (N m s/rad); 0 is Pendulum-v1.
        dt: time step (s).
        max_speed: angular speed clip (rad/s).
        max_torque: torque clip (N m).
        fitted: the constants :meth:`fit` estimates.
        solver: the least-squares solver.
    """

    g: float = 10.0
    m: float = 1.0
    length: float = 1.0
    damping: float = 0.0
    dt: float = 0.05
    max_speed: float = 8.0
    max_torque: float = 2.0
    fitted: tuple[str, ...] = ("m", "length", "damping")
    solver: LevenbergMarquardt = LevenbergMarquardt()

    @property
    def obs_dim(self) -> int:
        return 3

    @property
    def action_dim(self) -> int:
        return 1

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("g", "m", "length", "damping", "dt", "max_speed", "max_torque")

    @property
    def positive(self) -> frozenset[str]:
        return frozenset({"g", "m", "length", "dt", "max_speed", "max_torque"})

    def dynamics(
        self, theta: Theta, obs: Float[Array, " 3"], action: Float[Array, " 1"]
    ) -> Float[Array, " 3"]:
        """``[cos th', sin th', th_dot']`` after one step of ``dt`` from ``obs [3]``."""
        state = PendulumState(jnp.arctan2(obs[1], obs[0]), obs[2])
        u = jnp.clip(action[0], -theta["max_torque"], theta["max_torque"])
        new = pendulum_dynamics(
            state,
            u,
            g=theta["g"],
            m=theta["m"],
            length=theta["length"],
            damping=theta["damping"],
            dt=theta["dt"],
            max_speed=theta["max_speed"],
        )
        return pendulum_observe(new)


@final
@dataclasses.dataclass(frozen=True)
class BicyclePhysics(PhysicsModel):
    """The kinematic bicycle of ``mbrlax/BicycleTrack-v0``
    (:func:`mbrlax.envs.bicycle.bicycle_dynamics`, :func:`~mbrlax.envs.bicycle.bicycle_observe`).

    Observation ``[x, y, cos psi, sin psi, delta, offset]``, action ``[v, r]`` (clipped to
    ``[0, max_speed] x [-max_steer_rate, max_steer_rate]``); the heading is read back as
    ``atan2(sin, cos)``, as ``Bicycle.state_from_obs`` does. The float fields are the constants
    (fixed values, or initial guesses of those named in ``fitted``); the defaults are the
    env's.

    Attributes:
        wheelbase: ``L``, distance between the axles (m).
        rear_to_cm: ``l_r``, distance from the rear axle to the centre of mass (m).
        max_speed: speed clip (m/s).
        max_steer: steering angle clip (rad).
        max_steer_rate: steering rate clip (rad/s).
        dt: time step (s).
        track: the track whose centre line the observed offset is measured from.
        fitted: the constants :meth:`fit` estimates.
        solver: the least-squares solver.
    """

    wheelbase: float = 1.0
    rear_to_cm: float = 0.5
    max_speed: float = 3.0
    max_steer: float = 0.6
    max_steer_rate: float = 1.5
    dt: float = 0.05
    track: StadiumTrack = TRACK
    fitted: tuple[str, ...] = ("wheelbase", "rear_to_cm")
    solver: LevenbergMarquardt = LevenbergMarquardt()

    @property
    def obs_dim(self) -> int:
        return 6

    @property
    def action_dim(self) -> int:
        return 2

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("wheelbase", "rear_to_cm", "max_speed", "max_steer", "max_steer_rate", "dt")

    @property
    def positive(self) -> frozenset[str]:
        return frozenset(self.param_names)

    def dynamics(
        self, theta: Theta, obs: Float[Array, " 6"], action: Float[Array, " 2"]
    ) -> Float[Array, " 6"]:
        """The observation ``[6]`` after holding ``action`` for ``dt`` from ``obs [6]``."""
        state = BicycleState(obs[0], obs[1], jnp.arctan2(obs[3], obs[2]), obs[4])
        v = jnp.clip(action[0], 0.0, theta["max_speed"])
        rate = jnp.clip(action[1], -theta["max_steer_rate"], theta["max_steer_rate"])
        new = bicycle_dynamics(
            state,
            v,
            rate,
            wheelbase=theta["wheelbase"],
            rear_to_cm=theta["rear_to_cm"],
            max_steer=theta["max_steer"],
            dt=theta["dt"],
        )
        return bicycle_observe(new, self.track)


__all__ = [
    "BicyclePhysics",
    "LevenbergMarquardt",
    "PendulumPhysics",
    "PhysicsModel",
    "PhysicsParams",
    "TaskFn",
]
