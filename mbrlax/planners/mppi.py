"""`MPPI`: model predictive path integral control (Williams et al. 2017).

"Information Theoretic MPC for Model-Based Reinforcement Learning" (ICRA 2017): perturb the
current plan ``U`` with Gaussian noise, weight each perturbation by
``softmax(return / lambda)`` and move the plan by the weighted sum of perturbations.

Three options make it the MPPI of TD-MPC (Hansen et al. 2022) and TD-MPC2 (Hansen et al.
2024): ``elites`` weights only the best ``k`` samples, ``std_update`` refits the noise scale to
the weighted spread of those samples after every iteration (clamped to ``[min_std,
noise_std]``; each call starts again from ``noise_std``), and ``proposals`` puts sequences
drawn once per call by a ``proposal(state, key)`` given at ``build`` (TD-MPC2: its policy
prior rolled through the model) among the samples of every iteration.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    GaussianState,
    Planner,
    State,
    StepFn,
    TerminalValueFn,
)


@dataclasses.dataclass(frozen=True)
class MPPI(_rollout.SequencePlanner):
    """MPPI over open-loop action sequences, warm-started from the shifted previous plan.

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``.
        population: perturbed sequences sampled per iteration.
        iterations: updates of the plan per call (the paper does one).
        noise_std: std of the perturbations in units of the half-range ``(high - low) / 2``.
        temperature: ``lambda > 0``; lower concentrates the weights on the best sequences,
            so it should be of the order of the spread of returns (same units as rewards).
        control_cost_weight: ``gamma`` of Williams et al. 2018: each return is lowered by
            ``gamma * sum_t U_t . eps_t / sigma**2``, the likelihood-ratio term of the
            information-theoretic derivation; ``0`` (the default) leaves it out.
        elites: ``0`` (the default): every sample is weighted; ``k > 0``: only the ``k`` best
            scores, as TD-MPC2 (64 of 512).
        std_update: refit the noise scale after each iteration to the weighted standard
            deviation of the weighted samples around the new plan (TD-MPC2); ``False`` keeps
            it at ``noise_std``. The state a call returns keeps the spread it ended with, not
            shifted (``std[0]``: the spread of the action returned, which TD-MPC2 explores
            with); each call starts from ``noise_std`` again.
        min_std: the floor of that refitted scale, in units of the half-range (TD-MPC2: 0.05).
        proposals: how many of the ``population`` samples of every iteration are sequences
            drawn (once per call) by the ``proposal(state, key) -> [H, A]`` given to
            :meth:`build`; ``0`` (the default): none.
    """

    horizon: int = 15
    discount: float = 1.0
    population: int = 500
    iterations: int = 1
    noise_std: float = 0.5
    temperature: float = 1.0
    control_cost_weight: float = 0.0
    elites: int = 0
    std_update: bool = False
    min_std: float = 0.05
    proposals: int = 0

    def __post_init__(self) -> None:
        _rollout.check_common("MPPI", self.horizon, self.discount)
        _rollout.check_positive_int("MPPI", "population", self.population)
        _rollout.check_positive_int("MPPI", "iterations", self.iterations)
        if not self.noise_std > 0:
            raise ValueError(f"MPPI.noise_std must be > 0, got {self.noise_std!r}.")
        if not self.temperature > 0:
            raise ValueError(
                f"MPPI.temperature must be > 0, got {self.temperature!r}; for a near-greedy "
                "update use a small positive value."
            )
        if not self.control_cost_weight >= 0:
            raise ValueError(
                f"MPPI.control_cost_weight must be >= 0, got {self.control_cost_weight!r}."
            )
        _rollout.check_positive_int("MPPI", "elites", self.elites, minimum=0)
        _rollout.check_positive_int("MPPI", "proposals", self.proposals, minimum=0)
        if self.elites > self.population:
            raise ValueError(
                f"MPPI.elites ({self.elites}) must be at most the population "
                f"({self.population}); 0 weights every sample."
            )
        if self.proposals >= self.population:
            raise ValueError(
                f"MPPI.proposals ({self.proposals}) must be below the population "
                f"({self.population}): the rest are the noisy samples around the plan."
            )
        if not 0 < self.min_std <= self.noise_std:
            raise ValueError(
                f"MPPI.min_std must be in (0, noise_std={self.noise_std}], got {self.min_std!r}."
            )

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, GaussianState, self.noise_std

    def build(
        self,
        action_low: Float[np.ndarray, " A"],
        action_high: Float[np.ndarray, " A"],
        terminal_value: TerminalValueFn | None = None,
        proposal: ProposalFn | None = None,
    ) -> Planner:
        """The planner for actions in ``[action_low [A], action_high [A]]``; ``terminal_value``
        as for every sequence planner, and ``proposal(state, key) -> [H, A]`` the sampler of
        the ``proposals`` sequences (needed when ``proposals > 0``)."""
        if self.proposals and proposal is None:
            raise ValueError(
                f"MPPI.proposals={self.proposals} needs a proposal(state, key) -> [H, A] "
                "sequence sampler at build (e.g. a policy rolled through the model); or set "
                "proposals=0."
            )
        plan = functools.partial(_plan, proposal=proposal)
        return _rollout.build_planner(
            plan, self, self.horizon, action_low, action_high, terminal_value, GaussianState,
            self.noise_std,
        )  # fmt: skip


ProposalFn = Callable[[State, PRNGKeyArray], Float[Array, "H A"]]
"""``proposal(state, key) -> [H, A]``: one candidate sequence for MPPI's ``proposals``."""


def path_integral_weights(
    returns: Float[Array, " N"], temperature: float | Float[Array, ""]
) -> Float[Array, " N"]:
    """``softmax(returns / temperature)``, stable, with zero weight on non-finite returns.

    Args:
        returns: ``[N]`` returns, ``-inf`` for candidates to ignore.
        temperature: ``lambda > 0``.

    Returns:
        ``[N]`` weights summing to 1, or all zero when no return is finite (so the plan
        is left as it is rather than moved by NaNs).
    """
    finite = jnp.isfinite(returns)
    best = jnp.max(jnp.where(finite, returns, -jnp.inf))
    # Subtracting the best return keeps exp() in range; `where` drops the NaN that
    # -inf - (-inf) gives when nothing is finite.
    unnormalised = jnp.where(finite, jnp.exp((returns - best) / temperature), 0.0)
    total = unnormalised.sum()
    return unnormalised / jnp.where(total > 0, total, 1.0)


class MPPIIteration(NamedTuple):
    """One MPPI update of the plan: the sequences it scored and where it moved the plan.

    :func:`mppi_iteration` returns one; :func:`mppi_samples` returns one per iteration of a
    ``plan`` call, every leaf with a leading axis ``[I]``.

    Attributes:
        mean: ``[H, A]`` the plan that was perturbed.
        samples: ``[N, H, A]`` the perturbed sequences, clipped to the bounds, that were scored.
        returns: ``[N]`` their returns (``-inf`` where not finite).
        weights: ``[N]`` their path-integral weights, ``softmax(score / temperature)`` of the
            returns less any control cost (sum to 1; all 0 if no return is finite).
        plan: ``[H, A]`` the updated plan, ``clip(mean + sum_n weights[n] (samples[n] - mean))``,
            before any warm-start shift.
        eval_key: the key the returns were computed with: ``sequence_states(step, state,
            samples[n], jax.random.split(eval_key, N)[n])`` is the very future that was scored,
            also under a stochastic ``step``.
    """

    mean: Float[Array, "H A"]
    samples: Float[Array, "N H A"]
    returns: Float[Array, " N"]
    weights: Float[Array, " N"]
    plan: Float[Array, "H A"]
    eval_key: PRNGKeyArray


def mppi_iteration(
    cfg: MPPI,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    step: StepFn,
    state: State,
    mean: Float[Array, "H A"],
    sigma: Float[Array, "H A"],
    key: PRNGKeyArray,
    proposed: Float[Array, "P H A"] | None = None,
) -> MPPIIteration:
    """One path-integral update of the plan ``mean [H, A]`` with noise scale ``sigma [H, A]``.

    Samples ``cfg.population`` perturbations (the first ``P`` replaced by the ``proposed``
    sequences, if any), scores them from ``state`` through ``step`` and moves ``mean`` by their
    ``softmax(score / temperature)``-weighted sum (over the ``cfg.elites`` best only, if set);
    see :class:`MPPI`. ``low, high`` are the ``[A]`` action bounds and ``key`` is split into a
    noise key and an evaluation key.
    """
    noise_key, eval_key = jax.random.split(key)
    n_noisy = cfg.population - (0 if proposed is None else proposed.shape[0])
    noise = sigma * jax.random.normal(noise_key, (n_noisy, *sigma.shape))
    samples = jnp.clip(mean + noise, low, high)
    if proposed is not None:
        samples = jnp.concatenate([jnp.clip(proposed, low, high), samples])
    # The perturbation actually applied: the update is then a convex combination of
    # in-bounds samples, so the plan stays in the bounds.
    eps = samples - mean
    returns = _rollout.sequence_returns(
        step, state, samples, eval_key, cfg.discount, terminal_value
    )
    scores = returns
    if cfg.control_cost_weight > 0:
        likelihood_ratio = jnp.sum(mean * eps / sigma**2, axis=(1, 2))
        scores = returns - cfg.control_cost_weight * likelihood_ratio
    if cfg.elites:
        kth = jax.lax.top_k(scores, cfg.elites)[0][-1]
        scores = jnp.where(scores >= kth, scores, -jnp.inf)
    weights = path_integral_weights(scores, cfg.temperature)
    plan = jnp.clip(mean + jnp.einsum("n,nha->ha", weights, eps), low, high)
    return MPPIIteration(mean, samples, returns, weights, plan, eval_key)


def refit_std(
    cfg: MPPI, half_range: Float[np.ndarray, " A"], it: MPPIIteration
) -> Float[Array, "H A"]:
    """``[H, A]`` TD-MPC2's noise scale after an iteration: the weighted standard deviation of
    its samples around the new plan, clamped to ``[min_std, noise_std]`` half-ranges."""
    spread = jnp.sqrt(jnp.einsum("n,nha->ha", it.weights, (it.samples - it.plan) ** 2))
    return jnp.clip(spread, cfg.min_std * half_range, cfg.noise_std * half_range)


class _MPPICarry(NamedTuple):
    plan: Float[Array, "H A"]
    sigma: Float[Array, "H A"]
    best_return: Float[Array, ""]
    num_finite: Float[Array, ""]


def _iterate(
    cfg: MPPI,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: GaussianState,
    step: StepFn,
    state: State,
    iteration_keys: PRNGKeyArray,
    proposed: Float[Array, "P H A"] | None = None,
) -> tuple[_MPPICarry, MPPIIteration]:
    """The ``cfg.iterations`` updates of one ``plan`` call, one key each (``[I]``); returns the
    final carry and every iteration (leaves ``[I, ...]``, dropped by ``jit`` when unused)."""
    half_range = (high - low) / 2
    sigma0 = pstate.std
    if cfg.std_update:  # each call starts from the widest noise again, as TD-MPC2
        sigma0 = jnp.broadcast_to(cfg.noise_std * half_range, pstate.mean.shape)

    def iteration(carry: _MPPICarry, it_key: PRNGKeyArray) -> tuple[_MPPICarry, MPPIIteration]:
        it = mppi_iteration(
            cfg, low, high, terminal_value, step, state, carry.plan, carry.sigma, it_key,
            proposed,
        )  # fmt: skip
        carry = _MPPICarry(
            plan=it.plan,
            sigma=refit_std(cfg, half_range, it) if cfg.std_update else carry.sigma,
            best_return=jnp.maximum(carry.best_return, it.returns.max()),
            num_finite=carry.num_finite + jnp.isfinite(it.returns).sum(),
        )
        return carry, it

    init = _MPPICarry(
        plan=pstate.mean,
        sigma=sigma0,
        best_return=jnp.array(-jnp.inf, jnp.float32),
        num_finite=jnp.array(0.0, jnp.float32),
    )
    return jax.lax.scan(iteration, init, iteration_keys)


def _proposed(
    cfg: MPPI, proposal: ProposalFn | None, state: State, final_key: PRNGKeyArray
) -> Float[Array, "P H A"] | None:
    """The ``cfg.proposals`` sequences of one call (their key folded from the call's last key,
    so a planner without proposals draws exactly what it did before they existed)."""
    if not cfg.proposals:
        return None
    keys = jax.random.split(jax.random.fold_in(final_key, 1), cfg.proposals)
    return jax.vmap(lambda k: proposal(state, k))(keys)


def mppi_samples(
    cfg: MPPI,
    action_low: Float[np.ndarray, " A"],
    action_high: Float[np.ndarray, " A"],
    pstate: GaussianState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
    terminal_value: TerminalValueFn | None = None,
    proposal: ProposalFn | None = None,
) -> MPPIIteration:
    """What ``cfg.build(action_low, action_high, terminal_value, proposal).plan(pstate, step,
    state, key)`` sampled, scored and weighted, iteration by iteration (for pictures and
    diagnostics).

    The same keys and arithmetic as ``plan``, so the result is exactly that call's: the last
    iteration's ``plan`` is the chosen sequence (its first step the action ``plan`` returns,
    its shift the next ``pstate.mean``) and the first iteration's ``mean`` is ``pstate.mean``.

    Returns:
        :class:`MPPIIteration` with leaves ``[I, ...]`` (``I = cfg.iterations``): ``samples
        [I, N, H, A]``, ``returns [I, N]``, ``weights [I, N]``, ``mean`` and ``plan [I, H, A]``.
    """
    low, high = _rollout.check_bounds(action_low, action_high)
    keys = jax.random.split(key, cfg.iterations + 1)
    proposed = _proposed(cfg, proposal, state, keys[-1])
    _, iterations = _iterate(
        cfg, low, high, terminal_value, pstate, step, state, keys[:-1], proposed
    )
    return iterations


def _plan(
    cfg: MPPI,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: GaussianState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
    proposal: ProposalFn | None = None,
) -> tuple[Float[Array, " A"], GaussianState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`MPPI`."""
    keys = jax.random.split(key, cfg.iterations + 1)
    iteration_keys, final_key = keys[:-1], keys[-1]
    proposed = _proposed(cfg, proposal, state, final_key)
    final, _ = _iterate(
        cfg, low, high, terminal_value, pstate, step, state, iteration_keys, proposed
    )
    expected = _rollout.sequence_returns(
        step, state, final.plan[None], final_key, cfg.discount, terminal_value
    )[0]
    # With std_update: the spread the plan ended with, not shifted, so that std[0] is the
    # spread of the action returned (TD-MPC2 explores with it); the next call starts wide.
    std = final.sigma if cfg.std_update else pstate.std
    next_pstate = GaussianState(
        mean=_rollout.shift_plan(final.plan, jnp.asarray((low + high) / 2)), std=std
    )
    info = {
        "expected_return": expected,
        "best_return": final.best_return,
        "finite_fraction": final.num_finite / (cfg.iterations * cfg.population),
    }
    return final.plan[0], next_pstate, info
