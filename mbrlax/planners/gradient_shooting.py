"""`GradientShooting`: maximise the return by gradient ascent on the action sequence.

Single shooting through a differentiable model, as in "Differentiable MPC" baselines and
PlaNet's / Dreamer's gradient-based planners (e.g. Srinivas et al. 2018, "Universal Planning
Networks"; Bharadhwaj et al. 2020, "Model-Predictive Control via Cross-Entropy and
Gradient-Based Optimization"): backpropagate the discounted return through ``step`` and
update the whole ``[H, A]`` sequence with Adam, from several starting sequences at once.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    SequenceState,
    State,
    StepFn,
    TerminalValueFn,
)

# Squashed warm starts are pulled this far inside the bounds: arctanh(+-1) is infinite.
_SQUASH_EDGE = 1.0 - 1e-4


@dataclasses.dataclass(frozen=True)
class GradientShooting(_rollout.SequencePlanner):
    """Adam on open-loop action sequences, warm-started from the shifted previous plan.

    Each call optimises ``num_restarts`` sequences in parallel (``vmap``): the warm start and
    ``num_restarts - 1`` drawn uniformly in the bounds. Every iterate is scored, and the best
    finite one of any restart is executed and kept as the next warm start; if none is finite
    the warm start is executed, so a model that returns NaN never produces a NaN action.
    A stochastic ``step`` gets the same keys at every iteration and for every restart (common
    random numbers), so within a call the objective is a deterministic function of the actions.

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``.
        iterations: Adam steps per call of ``plan``.
        num_restarts: sequences optimised in parallel (the first is the warm start).
        learning_rate: Adam's initial step size, decayed to 0 over the iterations by a
            cosine schedule, in normalised units: the half-range
            ``(high - low) / 2`` is 1 (``"project"``), or the pre-``tanh`` variable
            (``"squash"``).
        bounds: how actions are kept in ``[low, high]``: ``"squash"`` optimises an
            unconstrained ``u`` with ``a = mid + half * tanh(u)``; ``"project"`` optimises
            ``a`` and clips it to the bounds after every step (exactly reaches a bound).
        max_grad_norm: gradients are clipped to this global norm before Adam, so that the
            exploding gradients of long horizons through chaotic dynamics cannot blow up
            Adam's moments.
    """

    horizon: int = 15
    discount: float = 1.0
    iterations: int = 40
    num_restarts: int = 8
    learning_rate: float = 0.1
    bounds: Literal["squash", "project"] = "project"
    max_grad_norm: float = 10.0

    def __post_init__(self) -> None:
        _rollout.check_common("GradientShooting", self.horizon, self.discount)
        _rollout.check_positive_int("GradientShooting", "iterations", self.iterations)
        _rollout.check_positive_int("GradientShooting", "num_restarts", self.num_restarts)
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(
                f"GradientShooting.learning_rate must be finite and > 0, got "
                f"{self.learning_rate!r}."
            )
        if not self.max_grad_norm > 0:
            raise ValueError(
                f"GradientShooting.max_grad_norm must be > 0, got {self.max_grad_norm!r}; "
                "use float('inf') to switch clipping off."
            )
        if self.bounds not in ("squash", "project"):
            raise ValueError(
                f"GradientShooting.bounds must be 'squash' or 'project', got {self.bounds!r}."
            )

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, _rollout.sequence_state, 1.0


class _AscentCarry(NamedTuple):
    """What ``lax.scan`` carries over the Adam iterations of one restart."""

    params: Float[Array, "H A"]  # normalised (project) or pre-tanh (squash) actions
    opt_state: optax.OptState
    best_actions: Float[Array, "H A"]  # best finite iterate so far
    best_return: Float[Array, ""]  # its return, -inf while none was finite
    num_finite: Float[Array, ""]  # iterates with a finite return and gradient
    grad_norm: Float[Array, ""]  # global norm of the latest gradient, before clipping


def _plan(
    cfg: GradientShooting,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: SequenceState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Float[Array, " A"], SequenceState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`GradientShooting`."""
    mid, half = jnp.asarray((low + high) / 2), jnp.asarray((high - low) / 2)
    squash = cfg.bounds == "squash"
    restart_key, rollout_key = jax.random.split(key)
    step_keys = jax.random.split(rollout_key, cfg.horizon)  # common random numbers

    def to_actions(params: Float[Array, "H A"]) -> Float[Array, "H A"]:
        return mid + half * (jnp.tanh(params) if squash else params)

    def to_params(actions: Float[Array, "H A"]) -> Float[Array, "H A"]:
        z = jnp.clip((actions - mid) / half, -1.0, 1.0)
        return jnp.arctanh(jnp.clip(z, -_SQUASH_EDGE, _SQUASH_EDGE)) if squash else z

    def objective(params: Float[Array, "H A"]) -> Float[Array, ""]:
        return _rollout.differentiable_return(
            step, state, to_actions(params), step_keys, cfg.discount, terminal_value
        )

    # Cosine decay to zero: constant-step Adam keeps hovering around an optimum.
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.iterations)
    optimizer = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(schedule))

    def iteration(carry: _AscentCarry, _: None) -> tuple[_AscentCarry, None]:
        ret, grad = jax.value_and_grad(objective)(carry.params)
        grad_norm = optax.tree.norm(grad)
        finite = jnp.isfinite(ret) & jnp.isfinite(grad_norm)
        actions = to_actions(carry.params)
        better = finite & (ret > carry.best_return)
        # Ascent: optax minimises. A non-finite gradient skips the step (moments untouched).
        grad = jnp.where(finite, -grad, 0.0)
        updates, opt_state = optimizer.update(grad, carry.opt_state, carry.params)
        params = optax.apply_updates(carry.params, updates)
        if not squash:
            params = jnp.clip(params, -1.0, 1.0)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        carry = _AscentCarry(
            params=keep(params, carry.params),
            opt_state=jax.tree.map(keep, opt_state, carry.opt_state),
            best_actions=jnp.where(better, actions, carry.best_actions),
            best_return=jnp.where(better, ret, carry.best_return),
            num_finite=carry.num_finite + finite,
            grad_norm=grad_norm,
        )
        return carry, None

    def ascend(actions: Float[Array, "H A"], start_return: Float[Array, ""]) -> _AscentCarry:
        params = to_params(actions)
        init = _AscentCarry(
            params=params,
            opt_state=optimizer.init(params),
            best_actions=actions,
            best_return=start_return,
            num_finite=jnp.array(0.0, jnp.float32),
            grad_norm=jnp.array(0.0, jnp.float32),
        )
        final, _ = jax.lax.scan(iteration, init, None, length=cfg.iterations)
        # The last Adam step has not been scored yet.
        ret = objective(final.params)
        better = jnp.isfinite(ret) & (ret > final.best_return)
        final = final._replace(
            best_actions=jnp.where(better, to_actions(final.params), final.best_actions),
            best_return=jnp.where(better, ret, final.best_return),
        )
        return final

    warm = jnp.clip(pstate.mean, low, high)
    random = jax.random.uniform(
        restart_key, (cfg.num_restarts - 1, *warm.shape), minval=low, maxval=high
    )
    starts = jnp.concatenate([warm[None], random], axis=0)
    # The warm start competes as it is (not as squashed), so the result is never worse.
    initial_return = _rollout.differentiable_return(
        step, state, warm, step_keys, cfg.discount, terminal_value
    )
    initial_return = jnp.where(jnp.isfinite(initial_return), initial_return, -jnp.inf)
    start_returns = jnp.full((cfg.num_restarts,), -jnp.inf).at[0].set(initial_return)
    finals = jax.vmap(ascend)(starts, start_returns)

    best = jnp.argmax(finals.best_return)
    best_return = finals.best_return[best]
    # Nothing finite anywhere: execute the warm start rather than an arbitrary sequence.
    plan = jnp.where(jnp.isfinite(best_return), finals.best_actions[best], warm)
    plan = jnp.clip(plan, low, high)  # mid + half * z may round a hair past a bound
    next_pstate = SequenceState(_rollout.shift_plan(plan, mid))
    info = {
        "expected_return": best_return,
        "initial_return": initial_return,
        "grad_norm": finals.grad_norm[best],
        "finite_fraction": finals.num_finite.sum() / (cfg.iterations * cfg.num_restarts),
    }
    return plan[0], next_pstate, info
