"""`LQR`: the finite-horizon linear-quadratic regulator, in closed form, as an MPC planner.

The problem: minimise ``sum_{t<H} (x_t^T Q x_t + u_t^T R u_t) + x_H^T Qf x_H`` subject to
``x_{t+1} = A x_t + B u_t``. mbrlax maximises rewards, so this is maximising the return of the
reward ``-(x^T Q x + u^T R u)`` (e.g. :class:`mbrlax.envs.point_mass.PointMass`); the optimal
return from ``x_0`` is ``-x_0^T P_0 x_0``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    Planner,
    PlannerConfig,
    SequenceState,
    State,
    StepFn,
    TerminalValueFn,
)

Matrix = tuple[tuple[float, ...], ...]
"""A matrix as a tuple of rows: hashable, so it can sit in a frozen (jit-static) config."""


def check_linear_quadratic(
    A: ArrayLike, B: ArrayLike, Q: ArrayLike, R: ArrayLike, Qf: ArrayLike | None = None
) -> tuple[int, int]:
    """Check ``A [S, S], B [S, A], Q [S, S], R [A, A], Qf [S, S]`` agree; returns ``(S, A)``.

    Raises ``ValueError`` naming the matrix whose shape is wrong, or that is not finite (the
    values are only checked for concrete arrays, so this also works on tracers inside ``jit``).
    """
    matrices = {"A": A, "B": B, "Q": Q, "R": R}
    if Qf is not None:
        matrices["Qf"] = Qf
    shapes = {name: np.shape(m) for name, m in matrices.items()}
    a, b = shapes["A"], shapes["B"]
    if len(a) != 2 or a[0] != a[1] or a[0] == 0:
        raise ValueError(f"LQR: A must be a square matrix [S, S], got shape {a}.")
    s = a[0]
    if len(b) != 2 or b[0] != s or b[1] == 0:
        raise ValueError(f"LQR: B must have shape [S, A] = [{s}, A] to match A, got {b}.")
    n = b[1]
    for name, shape in {"Q": (s, s), "R": (n, n), "Qf": (s, s)}.items():
        if name in shapes and shapes[name] != shape:
            raise ValueError(
                f"LQR: {name} must have shape {list(shape)} to match A {a} and B {b}, "
                f"got {shapes[name]}."
            )
    for name, m in matrices.items():
        if isinstance(m, jax.core.Tracer):
            continue
        if not np.all(np.isfinite(np.asarray(m, dtype=np.float64))):
            raise ValueError(f"LQR: {name} has non-finite entries.")
    return s, n


class _RiccatiCarry(NamedTuple):
    P: Float[Array, "S S"]  # cost-to-go matrix of the next time step


def finite_horizon_lqr(
    A: Float[ArrayLike, "S S"],
    B: Float[ArrayLike, "S A"],
    Q: Float[ArrayLike, "S S"],
    R: Float[ArrayLike, "A A"],
    horizon: int,
    Qf: Float[ArrayLike, "S S"] | None = None,
) -> tuple[Float[Array, "H A S"], Float[Array, "Hp1 S S"]]:
    """Finite-horizon LQR gains by the backward Riccati recursion.

    Minimises ``sum_{t<H} (x_t^T Q x_t + u_t^T R u_t) + x_H^T Qf x_H`` over
    ``x_{t+1} = A x_t + B u_t`` (the same as maximising the return of the reward
    ``-(x^T Q x + u^T R u)``). ``Q``, ``Qf`` must be positive semi-definite and ``R`` positive
    definite. Computed in the inputs' float dtype: float32 by default, float64 when given
    float64 arrays inside ``with jax.enable_x64(True):``.

    Args:
        A: ``[S, S]`` dynamics.
        B: ``[S, A]`` control matrix.
        Q: ``[S, S]`` state cost.
        R: ``[A, A]`` action cost.
        horizon: ``H >= 1`` steps (a static Python int).
        Qf: ``[S, S]`` terminal cost; ``None`` means zero (the cost of exactly ``H`` steps).

    Returns:
        ``K [H, A, S]``, the optimal policy ``u_t = -K[t] x_t``, and ``P [H + 1, S, S]``, the
        cost-to-go ``x_t^T P[t] x_t`` from step ``t`` (``P[H] = Qf``, ``P[0]`` the whole horizon).
    """
    if not (isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"finite_horizon_lqr: horizon must be an int >= 1, got {horizon!r}.")
    check_linear_quadratic(A, B, Q, R, Qf)
    dtype = jnp.promote_types(jnp.result_type(A, B, Q, R), jnp.float32)
    A, B, Q, R = (jnp.asarray(m, dtype) for m in (A, B, Q, R))
    P_final = jnp.zeros_like(Q) if Qf is None else jnp.asarray(Qf, dtype)

    return _riccati(A, B, Q, R, P_final, horizon)


@functools.partial(jax.jit, static_argnames="horizon")
def _riccati(
    A: Float[Array, "S S"],
    B: Float[Array, "S A"],
    Q: Float[Array, "S S"],
    R: Float[Array, "A A"],
    P_final: Float[Array, "S S"],
    horizon: int,
) -> tuple[Float[Array, "H A S"], Float[Array, "Hp1 S S"]]:
    """The recursion of :func:`finite_horizon_lqr`, compiled once per shape, dtype and ``H``."""

    def backward(carry: _RiccatiCarry, _: None) -> tuple[_RiccatiCarry, tuple[Array, Array]]:
        P = carry.P
        # K = (R + B^T P B)^-1 B^T P A; the system matrix is SPD, so solve (not invert).
        K = jnp.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        closed = A - B @ K
        # Joseph form: a sum of PSD terms, so P stays symmetric PSD despite rounding.
        P_prev = Q + K.T @ R @ K + closed.T @ P @ closed
        P_prev = (P_prev + P_prev.T) / 2
        return _RiccatiCarry(P_prev), (K, P_prev)

    _, (K, P) = jax.lax.scan(backward, _RiccatiCarry(P_final), None, length=horizon, reverse=True)
    return K, jnp.concatenate([P, P_final[None]], axis=0)


def _as_matrix(name: str, m: ArrayLike) -> Matrix:
    array = np.asarray(m, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"LQR: {name} must be a 2-D matrix, got shape {array.shape}.")
    return tuple(tuple(float(v) for v in row) for row in array)


def flatten_state(state: State) -> Float[Array, " S"]:
    """The default state adapter: the pytree's leaves raveled in order into one vector ``[S]``.

    An array state is returned flattened; :class:`~mbrlax.envs.point_mass.PointMassState`
    ``(position, velocity)`` becomes ``[position, velocity]``, its ``x``.
    """
    return ravel_pytree(state)[0]


@dataclasses.dataclass(frozen=True)
class LQR(PlannerConfig):
    """Receding-horizon LQR: the model is known (linear, quadratic cost) and part of the config.

    Every call of ``plan`` returns ``clip(-K[0] x, low, high)``, where ``K`` is the
    ``horizon``-step Riccati gain (computed once, at ``build``) and ``x = state_to_vector(state)``.
    Unlike the sampling planners it never calls the ``step`` it is given: the planner has the
    model itself and solves it in closed form. It is optimal for the unconstrained problem;
    when the bounds bind, clipping makes it suboptimal (it is not constrained MPC).

    Construct it from arrays with :meth:`from_matrices` (``LQR.from_matrices(*env.
    linear_quadratic(), horizon=50)``); the matrices are stored as tuples of rows so the config
    stays hashable, like every planner config.

    Attributes:
        A: ``[S, S]`` dynamics ``x' = A x + B u``.
        B: ``[S, A]`` control matrix.
        Q: ``[S, S]`` state cost (PSD), the reward being ``-(x^T Q x + u^T R u)``.
        R: ``[A, A]`` action cost (positive definite).
        horizon: ``H``, the number of planned steps.
        Qf: ``[S, S]`` terminal cost ``x_H^T Qf x_H`` or ``None`` for none; passing the
            infinite-horizon solution (``scipy.linalg.solve_discrete_are``) makes any horizon
            infinite-horizon optimal.
        state_to_vector: ``state -> x [S]``, the adapter from the planner's ``state`` to the
            linear system's state; the default :func:`flatten_state` ravels the pytree leaves.
    """

    A: Matrix
    B: Matrix
    Q: Matrix
    R: Matrix
    horizon: int = 50
    Qf: Matrix | None = None
    state_to_vector: Callable[[State], Float[Array, " S"]] = flatten_state

    def __post_init__(self) -> None:
        _rollout.check_common("LQR", self.horizon, 1.0)
        check_linear_quadratic(self.A, self.B, self.Q, self.R, self.Qf)

    @classmethod
    def from_matrices(
        cls,
        A: Float[ArrayLike, "S S"],
        B: Float[ArrayLike, "S A"],
        Q: Float[ArrayLike, "S S"],
        R: Float[ArrayLike, "A A"],
        horizon: int = 50,
        Qf: Float[ArrayLike, "S S"] | None = None,
        state_to_vector: Callable[[State], Float[Array, " S"]] = flatten_state,
    ) -> LQR:
        """The config for arrays ``A [S, S], B [S, A], Q [S, S], R [A, A]`` (and ``Qf [S, S]``)."""
        return cls(
            A=_as_matrix("A", A),
            B=_as_matrix("B", B),
            Q=_as_matrix("Q", Q),
            R=_as_matrix("R", R),
            horizon=horizon,
            Qf=None if Qf is None else _as_matrix("Qf", Qf),
            state_to_vector=state_to_vector,
        )

    @property
    def action_dim(self) -> int:
        """``A``, the number of action entries."""
        return len(self.R)

    def gains(self) -> tuple[Float[Array, "H A S"], Float[Array, "Hp1 S S"]]:
        """``(K [H, A, S], P [H + 1, S, S])`` of :func:`finite_horizon_lqr` for this config."""
        return finite_horizon_lqr(
            np.asarray(self.A),
            np.asarray(self.B),
            np.asarray(self.Q),
            np.asarray(self.R),
            self.horizon,
            None if self.Qf is None else np.asarray(self.Qf),
        )

    def build(
        self,
        action_low: Float[np.ndarray, " A"],
        action_high: Float[np.ndarray, " A"],
        terminal_value: TerminalValueFn | None = None,
    ) -> Planner:
        """The planner for actions in ``[action_low [A], action_high [A]]``.

        ``terminal_value`` must be ``None``: a closed-form LQR can only use a quadratic
        terminal cost, given as ``Qf``.
        """
        if terminal_value is not None:
            raise ValueError(
                "LQR cannot use a general terminal_value V(s_H); give a quadratic terminal "
                "cost x_H^T Qf x_H as LQR(Qf=...) instead."
            )
        low, high = _rollout.check_bounds(action_low, action_high)
        if low.size != self.action_dim:
            raise ValueError(
                f"LQR: the bounds have {low.size} action entries but B and R have "
                f"{self.action_dim}; pass bounds of shape [{self.action_dim}]."
            )
        K, P = self.gains()
        # The plan is a pure function of the state: pstate only carries the predicted
        # sequence (shifted by one step, as every planner keeps it), for pictures and logs.
        zeros = jnp.zeros((self.horizon, self.action_dim), jnp.float32)

        def init() -> SequenceState:
            return SequenceState(zeros)

        def plan(
            pstate: SequenceState, step: StepFn, state: State, key: PRNGKeyArray
        ) -> tuple[Float[Array, " A"], SequenceState, dict[str, Array]]:
            """``(clip(-K[0] x) [A], pstate, info)``; ``step`` and ``key`` are not used."""
            del step, key  # the model is known: nothing to sample or simulate
            x = jnp.asarray(self.state_to_vector(state), K.dtype)
            actions = _predicted_actions(K, jnp.asarray(self.A, K.dtype), self.B, x, low, high)
            unclipped = -K[0] @ x
            info = {
                # Exact optimal return when the bounds do not bind; an upper bound otherwise.
                "expected_return": -(x @ P[0] @ x).astype(jnp.float32),
                "clipped": jnp.any(actions[0] != unclipped),
            }
            kept = _rollout.shift_plan(actions, zeros[0])
            next_pstate = SequenceState(kept.astype(pstate.mean.dtype))
            return actions[0].astype(jnp.float32), next_pstate, info

        return Planner(init=init, plan=plan, sequence=_rollout.planned_sequence)


def _predicted_actions(
    K: Float[Array, "H A S"],
    A: Float[Array, "S S"],
    B: Matrix,
    x: Float[Array, " S"],
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
) -> Float[Array, "H A"]:
    """The clipped LQR policy rolled out on the linear model from ``x``: ``[H, A]``."""
    B = jnp.asarray(B, A.dtype)

    def forward(x: Array, K_t: Array) -> tuple[Array, Array]:
        u = jnp.clip(-K_t @ x, low, high)
        return A @ x + B @ u, u

    _, actions = jax.lax.scan(forward, x, K)
    return actions
