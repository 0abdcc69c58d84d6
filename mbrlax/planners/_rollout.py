"""The one piece every sampling planner shares: the return of candidate action sequences.

Also the small helpers they all need (building the ``Planner``, checking bounds and config,
shifting a plan for warm starts, and scoring elites), so each planner file reads as its
algorithm and nothing else.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.planners.base import (
    Planner,
    PlannerConfig,
    SequenceState,
    State,
    StepFn,
    TerminalValueFn,
)


class _RolloutCarry(NamedTuple):
    """What ``lax.scan`` carries along one sequence's horizon."""

    state: State
    alive: Bool[Array, ""]  # False from the step after the sequence terminated
    discount: Float[Array, ""]  # discount ** t
    ret: Float[Array, ""]  # discounted return so far


def differentiable_return(
    step: StepFn,
    state: State,
    actions: Float[Array, "H A"],
    keys: PRNGKeyArray,
    discount: float = 1.0,
    terminal_value: TerminalValueFn | None = None,
) -> Float[Array, ""]:
    """Discounted return of one sequence, differentiable in ``actions``; may be non-finite.

    Unlike :func:`mbrlax.planners.sequence_return` it does not map non-finite returns to
    ``-inf`` (that ``where`` would hide them from the caller, who must reject them) and it
    takes the per-step keys, so a caller can hold them fixed across evaluations.

    Args:
        step: ``step(state, action [A], key) -> (state, reward [], terminated [])``.
        state: the pytree the plan starts from.
        actions: ``[H, A]`` the sequence.
        keys: ``[H]`` one key per step.
        discount: ``gamma``; the reward of step ``t`` is weighted by ``gamma ** t``.
        terminal_value: optional ``V(s_H)``, added times ``gamma ** H`` if still alive.

    Returns:
        ``[]`` the return. The reward of the terminating step counts; later ones do not.
    """

    def body(carry: _RolloutCarry, inputs: tuple[Array, Array]) -> tuple[_RolloutCarry, None]:
        action, step_key = inputs
        next_state, reward, terminated = step(carry.state, action, step_key)
        reward = jnp.asarray(reward, carry.ret.dtype)
        ret = carry.ret + jnp.where(carry.alive, carry.discount * reward, 0.0)
        alive = carry.alive & ~jnp.asarray(terminated, bool)
        return _RolloutCarry(next_state, alive, carry.discount * discount, ret), None

    dtype = actions.dtype  # float32 normally; float64 where a caller enabled it (tests)
    init = _RolloutCarry(
        state=state,
        alive=jnp.array(True),
        discount=jnp.array(1.0, dtype),
        ret=jnp.array(0.0, dtype),
    )
    final, _ = jax.lax.scan(body, init, (actions, keys))
    ret = final.ret
    if terminal_value is not None:
        value = jnp.asarray(terminal_value(final.state), ret.dtype)
        ret = ret + jnp.where(final.alive, final.discount * value, 0.0)
    return ret


def sequence_return(
    step: StepFn,
    state: State,
    actions: Float[Array, "H A"],
    key: PRNGKeyArray,
    discount: float = 1.0,
    terminal_value: TerminalValueFn | None = None,
) -> Float[Array, ""]:
    """Discounted return of one action sequence from ``state``; ``-inf`` if not finite.

    Args:
        step: ``step(state, action [A], key) -> (state, reward [], terminated [])``.
        state: the pytree the plan starts from.
        actions: ``[H, A]`` the candidate sequence.
        key: split into one key per step.
        discount: ``gamma``; the reward of step ``t`` is weighted by ``gamma ** t``.
        terminal_value: optional ``V(s_H)``, added times ``gamma ** H`` if still alive.

    Returns:
        ``[]`` the return. The reward of the terminating step counts; later ones do not.
    """
    keys = jax.random.split(key, actions.shape[0])
    ret = differentiable_return(step, state, actions, keys, discount, terminal_value)
    # A diverging model must never look like the best plan: NaN and +-inf rank last.
    return jnp.where(jnp.isfinite(ret), ret, -jnp.inf)


def sequence_returns(
    step: StepFn,
    state: State,
    actions: Float[Array, "N H A"],
    key: PRNGKeyArray,
    discount: float = 1.0,
    terminal_value: TerminalValueFn | None = None,
) -> Float[Array, " N"]:
    """Returns of ``N`` candidate sequences from the same ``state`` (see :func:`sequence_return`).

    Each candidate gets its own key, so a stochastic ``step`` samples independent futures.

    Args:
        step: ``step(state, action [A], key) -> (state, reward [], terminated [])``.
        state: the pytree every candidate starts from (not batched).
        actions: ``[N, H, A]`` candidate sequences.
        key: PRNG key, split into one key per candidate.
        discount: ``gamma`` in ``(0, 1]``.
        terminal_value: optional ``V(s_H)``.

    Returns:
        ``[N]`` returns; non-finite ones are ``-inf``.
    """
    keys = jax.random.split(key, actions.shape[0])

    def one(sequence: Float[Array, "H A"], k: PRNGKeyArray) -> Float[Array, ""]:
        return sequence_return(step, state, sequence, k, discount, terminal_value)

    return jax.vmap(one)(actions, keys)


def sequence_states(
    step: StepFn,
    state: State,
    actions: Float[Array, "H A"],
    key: PRNGKeyArray,
) -> State:
    """The states one action sequence visits from ``state``, ``[s_0, s_1, ..., s_H]``.

    Uses the per-step keys of :func:`sequence_return` for the same ``key``, so under a
    stochastic ``step`` these are the states whose rewards that return summed. States after a
    termination are the model's continuation (the return ignores their rewards).

    Args:
        step: ``step(state, action [A], key) -> (state, reward [], terminated [])``.
        state: the pytree the sequence starts from.
        actions: ``[H, A]`` the sequence.
        key: split into one key per step.

    Returns:
        ``state``'s pytree with a leading axis ``H + 1`` on every leaf (the start first).
    """

    def body(s: State, inputs: tuple[Array, Array]) -> tuple[State, State]:
        action, step_key = inputs
        next_state, _, _ = step(s, action, step_key)
        return next_state, next_state

    keys = jax.random.split(key, actions.shape[0])
    _, visited = jax.lax.scan(body, state, (actions, keys))
    return jax.tree.map(lambda s0, s: jnp.concatenate([jnp.asarray(s0)[None], s]), state, visited)


def flat_dynamics(
    step: StepFn, state: State, dtype: Any = None
) -> tuple[Float[Array, " S"], Callable[[Array], State], Callable[..., tuple[Array, Array]]]:
    """``step`` on flat state vectors, for the planners that differentiate through it.

    Returns ``(x0 [S], unravel, dynamics)``: ``state`` flattened (``ravel_pytree``) in
    ``dtype`` (default: the state's own), the inverse of the flattening, and ``dynamics(x [S],
    u [A], key) -> (x' [S], reward [])`` in ``dtype``. Termination flags are dropped: iLQR,
    DDP and collocation assume dynamics that run for the whole horizon.
    """
    x0, unravel = ravel_pytree(state)
    dtype = x0.dtype if dtype is None else dtype

    def dynamics(x: Array, u: Array, key: PRNGKeyArray) -> tuple[Array, Array]:
        next_state, reward, _ = step(unravel(x), u, key)  # termination ignored
        return ravel_pytree(next_state)[0].astype(dtype), jnp.asarray(reward, dtype)

    return x0.astype(dtype), unravel, dynamics


def shift_plan(plan: Float[Array, "H A"], fill: Float[Array, " A"]) -> Float[Array, "H A"]:
    """Warm start: ``plan`` advanced by one step, the freed last step set to ``fill``.

    Args:
        plan: ``[H, A]`` the plan just executed from its first step.
        fill: ``[A]`` the action for the new last step (the initial mean).

    Returns:
        ``[H, A]`` ``[plan[1], ..., plan[H-1], fill]``.
    """
    return jnp.concatenate([plan[1:], fill[None].astype(plan.dtype)], axis=0)


def finite_fraction(returns: Float[Array, " N"]) -> Float[Array, ""]:
    """``[]`` share of candidates whose return was finite (a model-health signal for logs)."""
    return jnp.mean(jnp.isfinite(returns).astype(jnp.float32))


def build_planner(
    plan: Callable[..., tuple[Array, Any, dict[str, Array]]],
    cfg: object,
    horizon: int,
    action_low: Float[np.ndarray, " A"],
    action_high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    make_state: Callable[[Array, Array], Any] | None = None,
    spread: float = 1.0,
) -> Planner:
    """The :class:`Planner` of a sequence planner; what every ``build`` method does.

    Args:
        plan: ``plan(cfg, low, high, terminal_value, pstate, step, state, key)``.
        cfg: the planner's frozen config, bound as ``plan``'s first argument.
        horizon: ``H``.
        action_low, action_high: ``[A]`` finite bounds, checked here.
        terminal_value: optional ``V(s_H)``, bound into ``plan``.
        make_state: ``(mean [H, A], std [H, A]) -> pstate``, the planner's initial state from
            the mid-point plan and the initial spread (default: :class:`SequenceState`, the
            plan alone).
        spread: the initial ``std`` as a fraction of the half-range ``(high - low) / 2``.
    """
    low, high = check_bounds(action_low, action_high)
    mean0 = np.broadcast_to((low + high) / 2, (horizon, low.size)).astype(np.float32)
    std0 = np.broadcast_to(spread * (high - low) / 2, (horizon, low.size)).astype(np.float32)

    make_state = sequence_state if make_state is None else make_state

    def init() -> Any:
        return make_state(jnp.asarray(mean0), jnp.asarray(std0))

    return Planner(
        init=init,
        plan=functools.partial(plan, cfg, low, high, terminal_value),
        sequence=planned_sequence,
    )


def sequence_state(mean: Float[Array, "H A"], std: Float[Array, "H A"]) -> SequenceState:
    """The initial state of a planner that keeps only its plan (the spread is not kept)."""
    del std
    return SequenceState(mean)


class SequencePlanner(PlannerConfig):
    """A planner over Box actions that keeps an action sequence between calls; ``build`` is
    written once here, from the config's :meth:`parts`."""

    horizon: int

    def parts(self) -> tuple[Callable[..., Any], Callable[[Array, Array], Any], float]:
        """``(plan, make_state, spread)`` for :func:`build_planner`: the planner's ``plan``
        function, its initial state from the mid-point plan and spread, and the initial spread
        as a fraction of the half-range."""
        raise NotImplementedError

    def build(
        self,
        action_low: Float[np.ndarray, " A"],
        action_high: Float[np.ndarray, " A"],
        terminal_value: TerminalValueFn | None = None,
    ) -> Planner:
        """The planner for actions in ``[action_low [A], action_high [A]]``.

        ``terminal_value(s_H) -> []`` is added to each return (times ``gamma ** H``, if
        alive); planners that follow gradients (gradient shooting, collocation, iLQR/DDP) need
        it differentiable.
        """
        plan, make_state, spread = self.parts()
        return build_planner(
            plan, self, self.horizon, action_low, action_high, terminal_value, make_state, spread
        )


def planned_sequence(pstate: Any) -> Float[Array, "H A"]:
    """``[H, A]`` the plan a sequence planner's state keeps (its ``mean``)."""
    return pstate.mean


def check_bounds(
    action_low: Float[np.ndarray, " A"], action_high: Float[np.ndarray, " A"]
) -> tuple[Float[np.ndarray, " A"], Float[np.ndarray, " A"]]:
    """Validate action bounds at ``build`` time; returns them as float32 numpy ``[A]`` arrays."""
    low = np.asarray(action_low, dtype=np.float32)
    high = np.asarray(action_high, dtype=np.float32)
    if low.ndim != 1 or low.shape != high.shape or low.size == 0:
        raise ValueError(
            f"action_low and action_high must both have shape [A], got {low.shape} and "
            f"{high.shape}; pass e.g. spec.action_bounds() of a continuous EnvSpec."
        )
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(
            f"action bounds must be finite, got low={low}, high={high}; sampling planners "
            "need a box to sample in: rescale the action space or choose finite bounds."
        )
    if not np.all(low < high):
        raise ValueError(f"need action_low < action_high everywhere, got low={low}, high={high}.")
    return low, high


def check_common(name: str, horizon: int, discount: float) -> None:
    """Validate the fields every planner config shares; raises ``ValueError`` saying which."""
    if not (isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"{name}.horizon must be an int >= 1, got {horizon!r}.")
    if not (0.0 < discount <= 1.0):
        raise ValueError(f"{name}.discount must be in (0, 1], got {discount!r}.")


def check_positive_int(name: str, field: str, value: int, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum``."""
    if not (isinstance(value, int) and value >= minimum):
        raise ValueError(f"{name}.{field} must be an int >= {minimum}, got {value!r}.")


def check_unit_interval(name: str, field: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= 1``."""
    if not (0.0 <= value <= 1.0 and math.isfinite(value)):
        raise ValueError(f"{name}.{field} must be in [0, 1], got {value!r}.")
