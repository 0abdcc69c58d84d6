"""`ILQR` (Gauss-Newton) and `DDP` (full second order) on a differentiable, deterministic ``step``.

DDP: Jacobson & Mayne 1970, "Differential Dynamic Programming"; iLQR: Li & Todorov 2004,
"Iterative linear quadratic regulator design for nonlinear biological movement systems";
regularisation and line search as in Tassa, Erez & Todorov 2012,
"Synthesis and stabilization of complex behaviors through online trajectory optimization";
box controls in the spirit of Tassa, Mansard & Todorov 2014, "Control-limited differential
dynamic programming" (a lighter version, see :class:`ILQR`).

The cost is minus the reward (rewards are maximised): ``c_t(x, u) = -gamma^t r(x, u)`` and
``c_H(x) = -gamma^H V(x)`` for an optional terminal value ``V``. Each iteration linearises
the dynamics (``jax.jacfwd``) and quadratises the cost (``jax.hessian``) along the current
trajectory, solves the resulting time-varying LQR backwards, and rolls the new feedback
policy out through the true ``step`` for several step sizes at once. :class:`DDP` adds the
second derivatives of the dynamics contracted with the value gradient (the tensor terms
``V_x . f_xx``, ``V_x . f_ux``, ``V_x . f_uu``) to the quadratic model of ``Q``: Newton's
method in the actions rather than Gauss-Newton's, quadratic rather than linear convergence
near an optimum, at the price of a Hessian of the dynamics per step and per iteration.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    SequenceState,
    State,
    StepFn,
    TerminalValueFn,
)


@dataclasses.dataclass(frozen=True)
class ILQR(_rollout.SequencePlanner):
    """Receding-horizon iLQR, warm-started from the shifted previous plan.

    Every call of ``plan`` runs ``iterations`` iLQR iterations (a fixed number, in a
    ``lax.scan``, so it compiles once) from the warm start and returns the first action.

    * **Model.** ``step`` must be deterministic and differentiable: the key is split once
      into one key per step and held fixed. The state pytree is flattened with
      ``jax.flatten_util.ravel_pytree`` (and unflattened to call ``step``). Termination flags
      are **ignored**: iLQR assumes smooth dynamics that run for the whole horizon.
    * **Backward pass.** Gauss-Newton: the second derivatives of the dynamics are dropped
      (no DDP tensor terms). ``Q_uu + mu I`` must be positive definite (Cholesky); if it is
      not at some step, or the line search finds no improvement, the iteration is rejected
      (the trajectory is kept) and ``mu`` grows: ``mu <- max(mu_min, mu * factor)``. On
      success it shrinks: ``mu <- mu / factor`` (to 0 below ``mu_min``). ``mu`` restarts from
      ``regularization_init`` at every call of ``plan``.
    * **Bounds** (a "projected" / box-DDP-lite scheme). At each step the unconstrained
      Newton step ``-Q_uu^-1 Q_u`` is clipped to the box; the dimensions it clipped are
      *clamped*: their feed-forward is the clipped value and their feedback gain is zero, and
      the free dimensions are re-solved given the clamped ones (``Q_ff k_f = -(Q_u + Q_uc
      k_c)_f``, ``K_f = -Q_ff^-1 Q_ux,f``). The value function is propagated with these
      gains. The forward pass clips every action to the box as well, so the plan is always
      feasible. (Box-DDP solves a box QP per step for the clamped set; clipping the
      unconstrained step is exact for one action dimension and a heuristic otherwise.)
    * **Line search.** The new policy ``u = clip(u_bar + alpha k + K (x - x_bar))`` is
      rolled out for ``alpha in {1, 1/2, ..., 1/2^(line_search_steps-1)}`` in parallel
      (``vmap``); the best finite return is accepted if it beats the current one, so the
      return never decreases from one iteration to the next.

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``.
        iterations: iLQR iterations per call of ``plan``.
        line_search_steps: step sizes tried per iteration, ``alpha = 2^-i``.
        regularization_init: ``mu`` at the start of every call (``>= 0``). The default 1.0
            damps the first steps from a poor warm start (``benchmarks/known_model_planning.py
            --planners ilqr --ilqr-damping 0`` vs 1: cart-pole 184.1 vs 187.2, acrobot 183.2
            vs 204.7, bicycle 49.5 vs 50.6); use 0.0 for the exact Newton step, which solves a
            linear-quadratic problem in one iteration.
        regularization_min: the smallest non-zero ``mu`` (``> 0``).
        regularization_max: ``mu`` never exceeds this.
        regularization_factor: ``mu`` is multiplied / divided by this (``> 1``).
    """

    horizon: int = 30
    discount: float = 1.0
    iterations: int = 10
    line_search_steps: int = 8
    regularization_init: float = 1.0
    regularization_min: float = 1e-6
    regularization_max: float = 1e10
    regularization_factor: float = 10.0

    # DDP's tensor terms in the backward pass; False is iLQR (see :class:`DDP`).
    second_order: ClassVar[bool] = False

    def __post_init__(self) -> None:
        name = type(self).__name__
        _rollout.check_common(name, self.horizon, self.discount)
        _rollout.check_positive_int(name, "iterations", self.iterations)
        _rollout.check_positive_int(name, "line_search_steps", self.line_search_steps)
        if not (0.0 <= self.regularization_init < math.inf):
            raise ValueError(
                f"{name}.regularization_init must be finite and >= 0, got "
                f"{self.regularization_init!r}."
            )
        if not (0.0 < self.regularization_min < math.inf):
            raise ValueError(
                f"{name}.regularization_min must be finite and > 0, got "
                f"{self.regularization_min!r}."
            )
        if not (self.regularization_max >= self.regularization_min):
            raise ValueError(
                f"{name}.regularization_max must be >= regularization_min "
                f"({self.regularization_min!r}), got {self.regularization_max!r}."
            )
        if not (1.0 < self.regularization_factor < math.inf):
            raise ValueError(
                f"{name}.regularization_factor must be finite and > 1, got "
                f"{self.regularization_factor!r}."
            )

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, _rollout.sequence_state, 1.0


@dataclasses.dataclass(frozen=True)
class DDP(ILQR):
    """Receding-horizon differential dynamic programming: :class:`ILQR` plus the tensor terms.

    Everything (fields, warm start, regularisation, clamped box controls, parallel line
    search, the monotone return) is as in :class:`ILQR`; the backward pass adds, at every
    step, the Hessian of ``V_x' . f(x, u)`` with respect to ``(x, u)`` (``V_x'`` the gradient of
    the next step's cost-to-go) to ``Q_xx``, ``Q_ux`` and ``Q_uu``. That is the exact second
    order expansion of the Bellman backup, so near an optimum DDP converges quadratically
    where iLQR converges linearly, and both stop at the same local optima (the first order
    conditions do not involve the dropped terms). The extra terms can make ``Q_uu``
    indefinite far from an optimum; the Levenberg-Marquardt ``mu`` then grows until it is
    positive definite, so start from ``regularization_init > 0`` on strongly nonlinear
    problems. Each iteration costs one dynamics Hessian per step on top of iLQR's Jacobians:
    on a linear model the terms vanish and DDP is iLQR exactly.
    """

    second_order: ClassVar[bool] = True


class ILQRResult(NamedTuple):
    """What :func:`ilqr_optimize` returns."""

    actions: Float[Array, "H A"]  # the optimised sequence (inside the bounds)
    returns: Float[Array, " Ip1"]  # return before iteration 0, then after each iteration
    regularization: Float[Array, ""]  # the final mu


class _Derivatives(NamedTuple):
    fx: Float[Array, "H S S"]
    fu: Float[Array, "H S A"]
    lx: Float[Array, "H S"]
    lu: Float[Array, "H A"]
    lxx: Float[Array, "H S S"]
    lux: Float[Array, "H A S"]
    luu: Float[Array, "H A A"]


class _Iterate(NamedTuple):
    xs: Float[Array, "Hp1 S"]  # the nominal trajectory's states
    us: Float[Array, "H A"]  # its actions
    ret: Float[Array, ""]  # its return
    mu: Float[Array, ""]


def ilqr_optimize(
    cfg: ILQR,
    step: StepFn,
    state: State,
    actions: Float[Array, "H A"],
    key: PRNGKeyArray,
    action_low: Float[np.ndarray, " A"],
    action_high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None = None,
) -> ILQRResult:
    """Run ``cfg.iterations`` iLQR (or, for a :class:`DDP` config, DDP) iterations from
    ``actions`` (clipped to the bounds).

    Works in the dtype of ``actions`` (float64 inside ``jax.enable_x64``). Jittable with
    ``cfg`` and ``step`` static.
    """
    low = jnp.asarray(action_low, actions.dtype)
    high = jnp.asarray(action_high, actions.dtype)
    dtype = actions.dtype
    horizon, action_dim = actions.shape
    x0, unravel, dynamics = _rollout.flat_dynamics(step, state, dtype)
    keys = jax.random.split(key, horizon)
    discounts = jnp.asarray(cfg.discount, dtype) ** jnp.arange(horizon + 1, dtype=dtype)
    eye = jnp.eye(action_dim, dtype=dtype)

    def terminal_cost(x: Array) -> Array:
        if terminal_value is None:
            return jnp.zeros((), dtype)
        return -discounts[-1] * jnp.asarray(terminal_value(unravel(x)), dtype)

    def forward(xs_bar, us_bar, k_ff, K_fb, alpha):
        """Roll ``clip(u_bar + alpha k + K (x - x_bar))`` out: ``(xs, us, return)``."""

        def body(x, inputs):
            x_bar, u_bar, k_t, K_t, key_t, w = inputs
            u = jnp.clip(u_bar + alpha * k_t + K_t @ (x - x_bar), low, high)
            x_next, reward = dynamics(x, u, key_t)
            return x_next, (x, u, w * reward)

        inputs = (xs_bar[:-1], us_bar, k_ff, K_fb, keys, discounts[:-1])
        x_final, (xs, us, rewards) = jax.lax.scan(body, x0, inputs)
        ret = rewards.sum() - terminal_cost(x_final)
        ret = jnp.where(jnp.isfinite(ret), ret, -jnp.inf)
        return jnp.concatenate([xs, x_final[None]]), us, ret

    def derivatives(xs: Array, us: Array) -> _Derivatives:
        def one(x, u, k, w):
            fx, fu = jax.jacfwd(lambda x, u: dynamics(x, u, k)[0], argnums=(0, 1))(x, u)

            def cost(z):
                return -w * dynamics(z[: x.size], z[x.size :], k)[1]

            z = jnp.concatenate([x, u])
            g = jax.grad(cost)(z)
            h = jax.hessian(cost)(z)
            n = x.size
            return _Derivatives(fx, fu, g[:n], g[n:], h[:n, :n], h[n:, :n], h[n:, n:])

        return jax.vmap(one)(xs[:-1], us, keys, discounts[:-1])

    def backward(d: _Derivatives, xs: Array, us: Array, mu: Array):
        """Gains ``k [H, A]``, ``K [H, A, S]`` and whether every ``Q_uu + mu I`` was PD."""
        Vx = jax.grad(terminal_cost)(xs[-1])
        Vxx = jax.hessian(terminal_cost)(xs[-1])

        def body(carry, inputs):
            Vx, Vxx = carry
            fx, fu, lx, lu, lxx, lux, luu, x_bar, u_bar, key_t = inputs
            Qx = lx + fx.T @ Vx
            Qu = lu + fu.T @ Vx
            Qxx = lxx + fx.T @ Vxx @ fx
            Qux = lux + fu.T @ Vxx @ fx
            Quu = luu + fu.T @ Vxx @ fu
            if cfg.second_order:
                # DDP: the curvature of the dynamics along the value gradient, V_x . f_zz.
                n = x_bar.size

                def along_value_gradient(z):
                    return Vx @ dynamics(z[:n], z[n:], key_t)[0]

                h = jax.hessian(along_value_gradient)(jnp.concatenate([x_bar, u_bar]))
                Qxx = Qxx + h[:n, :n]
                Qux = Qux + h[n:, :n]
                Quu = Quu + h[n:, n:]
            Qxx = (Qxx + Qxx.T) / 2
            Quu = (Quu + Quu.T) / 2
            Quu_reg = Quu + mu * eye
            # The unconstrained Newton step decides which action entries are clamped.
            chol = _cholesky(Quu_reg)
            k_unc = -_cho_solve(chol, Qu)
            target = u_bar + k_unc
            clamped = (target < low) | (target > high)
            clamped_step = jnp.clip(target, low, high) - u_bar
            free = ~clamped
            k_c = jnp.where(clamped, clamped_step, 0.0)
            both_free = free[:, None] & free[None, :]
            H_free = jnp.where(both_free, Quu_reg, eye)
            chol_f = _cholesky(H_free)
            rhs = jnp.where(free, Qu + Quu_reg @ k_c, 0.0)
            k = jnp.where(free, -_cho_solve(chol_f, rhs), k_c)
            K = -_cho_solve(chol_f, jnp.where(free[:, None], Qux, 0.0))
            Vx = Qx + K.T @ Quu @ k + K.T @ Qu + Qux.T @ k
            Vxx = Qxx + K.T @ Quu @ K + K.T @ Qux + Qux.T @ K
            Vxx = (Vxx + Vxx.T) / 2
            ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(chol_f))
            return (Vx, Vxx), (k, K, ok)

        inputs = (*d, xs[:-1], us, keys)
        _, (k, K, ok) = jax.lax.scan(body, (Vx, Vxx), inputs, reverse=True)
        ok = jnp.all(ok) & jnp.all(jnp.isfinite(k)) & jnp.all(jnp.isfinite(K))
        return k, K, ok

    alphas = 0.5 ** jnp.arange(cfg.line_search_steps, dtype=dtype)
    mu_min = jnp.asarray(cfg.regularization_min, dtype)
    mu_max = jnp.asarray(cfg.regularization_max, dtype)
    factor = jnp.asarray(cfg.regularization_factor, dtype)

    def iteration(it: _Iterate, _: None) -> tuple[_Iterate, Array]:
        d = derivatives(it.xs, it.us)
        k, K, ok = backward(d, it.xs, it.us, it.mu)
        k = jnp.where(ok, k, 0.0)  # a failed backward pass must not produce NaN actions
        K = jnp.where(ok, K, 0.0)
        xs, us, rets = jax.vmap(lambda a: forward(it.xs, it.us, k, K, a))(alphas)
        best = jnp.argmax(rets)
        accept = ok & (rets[best] > it.ret)
        mu_down = jnp.where(it.mu / factor < mu_min, 0.0, it.mu / factor)
        mu_up = jnp.minimum(jnp.maximum(mu_min, it.mu * factor), mu_max)
        new = _Iterate(
            xs=jnp.where(accept, xs[best], it.xs),
            us=jnp.where(accept, us[best], it.us),
            ret=jnp.where(accept, rets[best], it.ret),
            mu=jnp.where(accept, mu_down, mu_up),
        )
        return new, new.ret

    zeros_k = jnp.zeros((horizon, action_dim), dtype)
    zeros_K = jnp.zeros((horizon, action_dim, x0.size), dtype)
    us0 = jnp.clip(actions, low, high)
    xs_dummy = jnp.zeros((horizon + 1, x0.size), dtype)
    xs, us, ret = forward(xs_dummy, us0, zeros_k, zeros_K, jnp.zeros((), dtype))
    init = _Iterate(xs, us, ret, jnp.asarray(cfg.regularization_init, dtype))
    final, rets = jax.lax.scan(iteration, init, None, length=cfg.iterations)
    return ILQRResult(final.us, jnp.concatenate([ret[None], rets]), final.mu)


# Up to this many action dimensions the Cholesky factorisation and solves are unrolled into
# plain arithmetic that XLA fuses; above it, LAPACK. On a CPU each LAPACK call inside the
# backward pass's scan costs more than the arithmetic of a small factorisation.
_UNROLLED_MAX_DIM = 8


def _cholesky(m: Float[Array, "A A"]) -> Float[Array, "A A"]:
    """Lower Cholesky factor of ``m``; NaN entries where ``m`` is not positive definite."""
    n = m.shape[0]
    if n > _UNROLLED_MAX_DIM:
        return jnp.linalg.cholesky(m)
    rows: list[list[Array]] = [[jnp.zeros((), m.dtype)] * n for _ in range(n)]
    for j in range(n):
        d = m[j, j] - sum((rows[j][k] ** 2 for k in range(j)), jnp.zeros((), m.dtype))
        # sqrt of a negative pivot is NaN, which the caller's finiteness check catches.
        rows[j][j] = jnp.sqrt(jnp.where(d > 0, d, jnp.nan))
        for i in range(j + 1, n):
            off = m[i, j] - sum((rows[i][k] * rows[j][k] for k in range(j)), jnp.zeros((), m.dtype))
            rows[i][j] = off / rows[j][j]
    return jnp.stack([jnp.stack(r) for r in rows])


def _cho_solve(chol: Float[Array, "A A"], b: Float[Array, "A ..."]) -> Float[Array, "A ..."]:
    """``m^-1 b`` from the lower Cholesky factor of ``m`` (``b`` is ``[A]`` or ``[A, S]``)."""
    n = chol.shape[0]
    if n > _UNROLLED_MAX_DIM:
        return jax.scipy.linalg.cho_solve((chol, True), b)
    y: list[Array] = []
    for i in range(n):  # L y = b
        y.append(
            (b[i] - sum((chol[i, k] * y[k] for k in range(i)), jnp.zeros_like(b[i]))) / chol[i, i]
        )
    x: list[Array] = [jnp.zeros_like(b[0])] * n
    for i in reversed(range(n)):  # L^T x = y
        rest = sum((chol[k, i] * x[k] for k in range(i + 1, n)), jnp.zeros_like(b[i]))
        x[i] = (y[i] - rest) / chol[i, i]
    return jnp.stack(x)


def _plan(
    cfg: ILQR,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: SequenceState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Float[Array, " A"], SequenceState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`ILQR` / :class:`DDP`."""
    result = ilqr_optimize(cfg, step, state, pstate.mean, key, low, high, terminal_value)
    plan = result.actions
    mid = jnp.asarray((low + high) / 2, plan.dtype)
    next_pstate = SequenceState(_rollout.shift_plan(plan, mid).astype(pstate.mean.dtype))
    info = {
        "expected_return": result.returns[-1],
        "initial_return": result.returns[0],
        "regularization": result.regularization,
    }
    return plan[0].astype(pstate.mean.dtype), next_pstate, info
