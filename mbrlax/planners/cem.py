"""`CEM`: the cross-entropy method as used by PETS (Chua et al. 2018) and mbrl-lib."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    GaussianState,
    State,
    StepFn,
    TerminalValueFn,
)


@dataclasses.dataclass(frozen=True)
class CEM(_rollout.SequencePlanner):
    """Cross-entropy method over open-loop action sequences (mbrl-lib's ``CEMOptimizer``).

    Each iteration samples ``population`` sequences from a Gaussian truncated at 2 std and
    clipped to the bounds; the ``num_elites`` best refit the mean and variance, mixed with the
    old ones by ``alpha``. The std is reset at every call; the mean is warm-started.

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``.
        population: sequences sampled per iteration.
        num_elites: best sequences used to refit the distribution (``<= population``).
        iterations: refits per call of ``plan``.
        alpha: momentum, the weight of the *old* mean and variance in each refit, in ``[0, 1]``
            (``1`` never moves: plan = warm start).
        init_std: initial std in units of the half-range ``(high - low) / 2`` (``0.5`` is
            mbrl-lib's ``(high - low) / 4``); the std is reset to it at every call.
        return_best: execute the first action of the best sequence sampled instead of the
            first action of the final mean.
        constrain_variance: mbrl-lib's (and PETS') rule: before sampling, shrink the variance
            so that 2 std around the mean stay inside the bounds. Off by default: a mean that
            reaches a bound then has zero variance there and can never leave it, which makes
            bang-bang tasks fail (pendulum swing-up from hanging down: about -1200 with it,
            about -390 without, horizon 15).
    """

    horizon: int = 15
    discount: float = 1.0
    population: int = 400
    num_elites: int = 40
    iterations: int = 5
    alpha: float = 0.1
    init_std: float = 0.5
    return_best: bool = False
    constrain_variance: bool = False

    def __post_init__(self) -> None:
        _rollout.check_common("CEM", self.horizon, self.discount)
        _rollout.check_positive_int("CEM", "population", self.population)
        _rollout.check_positive_int("CEM", "iterations", self.iterations)
        _rollout.check_positive_int("CEM", "num_elites", self.num_elites)
        if self.num_elites > self.population:
            raise ValueError(
                f"CEM.num_elites ({self.num_elites}) must be <= population ({self.population})."
            )
        _rollout.check_unit_interval("CEM", "alpha", self.alpha)
        if not self.init_std > 0:
            raise ValueError(f"CEM.init_std must be > 0, got {self.init_std!r}.")

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, GaussianState, self.init_std


class _CEMCarry(NamedTuple):
    mean: Float[Array, "H A"]
    var: Float[Array, "H A"]
    best_actions: Float[Array, "H A"]  # best sequence sampled so far
    best_return: Float[Array, ""]
    num_finite: Float[Array, ""]  # candidates with a finite return so far


def _plan(
    cfg: CEM,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: GaussianState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Float[Array, " A"], GaussianState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`CEM`."""
    keys = jax.random.split(key, cfg.iterations + 1)
    iteration_keys, final_key = keys[:-1], keys[-1]

    def iteration(carry: _CEMCarry, it_key: PRNGKeyArray) -> tuple[_CEMCarry, None]:
        sample_key, eval_key = jax.random.split(it_key)
        # mbrl-lib's constraint keeps the truncated (at 2 std) samples inside the bounds
        # without clipping; without it, clipping puts mass on the bounds instead.
        room = jnp.minimum(carry.mean - low, high - carry.mean) / 2
        std = jnp.sqrt(jnp.minimum(room**2, carry.var) if cfg.constrain_variance else carry.var)
        noise = jax.random.truncated_normal(sample_key, -2.0, 2.0, (cfg.population, *std.shape))
        samples = jnp.clip(carry.mean + std * noise, low, high)
        returns = _rollout.sequence_returns(
            step, state, samples, eval_key, cfg.discount, terminal_value
        )
        elite_returns, elite_idx = jax.lax.top_k(returns, cfg.num_elites)
        elites = samples[elite_idx]
        improved = elite_returns[0] > carry.best_return
        carry = _CEMCarry(
            mean=cfg.alpha * carry.mean + (1 - cfg.alpha) * elites.mean(axis=0),
            var=cfg.alpha * carry.var + (1 - cfg.alpha) * elites.var(axis=0),
            best_actions=jnp.where(improved, elites[0], carry.best_actions),
            best_return=jnp.maximum(elite_returns[0], carry.best_return),
            num_finite=carry.num_finite + jnp.isfinite(returns).sum(),
        )
        return carry, None

    init = _CEMCarry(
        mean=pstate.mean,
        var=pstate.std**2,
        best_actions=pstate.mean,
        best_return=jnp.array(-jnp.inf, jnp.float32),
        num_finite=jnp.array(0.0, jnp.float32),
    )
    final, _ = jax.lax.scan(iteration, init, iteration_keys)
    if cfg.return_best:
        plan, expected = final.best_actions, final.best_return
    else:
        plan = final.mean
        expected = _rollout.sequence_returns(
            step, state, plan[None], final_key, cfg.discount, terminal_value
        )[0]
    mid = jnp.asarray((low + high) / 2)
    init_std = jnp.asarray(cfg.init_std * (high - low) / 2)
    next_pstate = GaussianState(
        mean=_rollout.shift_plan(plan, mid), std=jnp.broadcast_to(init_std, plan.shape)
    )
    info = {
        "expected_return": expected,
        "best_return": final.best_return,
        "finite_fraction": final.num_finite / (cfg.iterations * cfg.population),
    }
    return plan[0], next_pstate, info
