"""`RandomShooting`: the best of many uniformly random action sequences (Nagabandi et al. 2018)."""

from __future__ import annotations

import dataclasses

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
class RandomShooting(_rollout.SequencePlanner):
    """Sample sequences uniformly in the bounds, execute the first action of the best one.

    The previous call's best sequence, shifted by one step, is always one of the candidates
    (it is re-evaluated, so a stochastic model does not make it look better than it is):
    the plan never gets worse merely because no good sample was drawn this time.

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``.
        population: candidate sequences per call, the warm-start one included.
    """

    horizon: int = 15
    discount: float = 1.0
    population: int = 1000

    def __post_init__(self) -> None:
        _rollout.check_common("RandomShooting", self.horizon, self.discount)
        _rollout.check_positive_int("RandomShooting", "population", self.population)

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, _rollout.sequence_state, 1.0


def _plan(
    cfg: RandomShooting,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: SequenceState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Float[Array, " A"], SequenceState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`RandomShooting`."""
    sample_key, eval_key = jax.random.split(key)
    shape = (cfg.population - 1, *pstate.mean.shape)
    samples = jax.random.uniform(sample_key, shape, minval=low, maxval=high)
    candidates = jnp.concatenate([pstate.mean[None], samples], axis=0)
    returns = _rollout.sequence_returns(
        step, state, candidates, eval_key, cfg.discount, terminal_value
    )
    best = jnp.argmax(returns)
    plan = candidates[best]
    next_pstate = SequenceState(_rollout.shift_plan(plan, jnp.asarray((low + high) / 2)))
    info = {
        "expected_return": returns[best],
        "best_return": returns[best],
        "finite_fraction": _rollout.finite_fraction(returns),
    }
    return plan[0], next_pstate, info
