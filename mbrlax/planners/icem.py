"""`ICEM`: the improved cross-entropy method of Pinneri et al. (2020).

"Sample-efficient Cross-Entropy Method for Real-time Planning" (CoRL 2020) adds to CEM:
temporally correlated (coloured) noise, a population that shrinks every iteration, elites
kept across iterations and, shifted by one step, across calls, the mean as a candidate in
the last iteration, and the execution of the best sequence found rather than the mean.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import State, StepFn, TerminalValueFn


class ICEMState(NamedTuple):
    """What iCEM carries between calls.

    Attributes:
        mean: ``[H, A]`` the plan (mean of the sampling distribution).
        std: ``[H, A]`` the sampling spread.
        elites: ``[K, H, A]`` the elites kept from the previous call, shifted by one step.
    """

    mean: Float[Array, "H A"]
    std: Float[Array, "H A"]
    elites: Float[Array, "K H A"]


def colored_noise(key: PRNGKeyArray, beta: float, shape: tuple[int, ...]) -> Float[Array, "*shape"]:
    """Unit-variance Gaussian noise whose power spectrum is ``~ 1/f**beta`` along axis 0.

    The algorithm of the ``colorednoise`` package (Timmer & Koenig 1995): draw random Fourier
    coefficients with amplitude ``f**(-beta/2)``, invert the FFT and normalise to unit std.
    ``beta = 0`` is white noise; larger ``beta`` gives smoother sequences (``2`` is
    Brownian-like). As in ``colorednoise``, the zero frequency gets the lowest frequency's
    amplitude (``fmin = 1 / n``). Every entry has variance exactly 1.

    Args:
        key: PRNG key.
        beta: the exponent, ``>= 0``.
        shape: ``(n, ...)``; the noise is correlated along the first axis (time) only.

    Returns:
        ``shape`` float32 noise.
    """
    n, rest = shape[0], tuple(shape[1:])
    if n == 1:  # a single step has no spectrum to shape
        return jax.random.normal(key, shape)
    # Static numpy: the spectrum's shape depends only on n and beta.
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    amplitude = freqs ** (-beta / 2.0)
    # Real signal: the zero (and, for even n, Nyquist) coefficients are real, with the
    # variance of both parts folded into the real one.
    real_scale = amplitude.copy()
    imag_scale = amplitude.copy()
    real_scale[0] *= np.sqrt(2.0)
    imag_scale[0] = 0.0
    if n % 2 == 0:
        real_scale[-1] *= np.sqrt(2.0)
        imag_scale[-1] = 0.0
    # The exact std of irfft's output: a bin with an imaginary part stands for a Hermitian
    # pair, so it counts twice. (`colorednoise` leaves the zero frequency out of its
    # normalisation, so its std is a little above 1 for beta > 0; this one is exactly 1.)
    pairs = np.where(imag_scale > 0, 2.0, 1.0)
    sigma = np.sqrt(np.sum(pairs * (real_scale**2 + imag_scale**2))) / n
    real_key, imag_key = jax.random.split(key)
    coeff_shape = (freqs.size, *rest)
    scale_shape = (freqs.size,) + (1,) * len(rest)
    real = jax.random.normal(real_key, coeff_shape) * real_scale.reshape(scale_shape)
    imag = jax.random.normal(imag_key, coeff_shape) * imag_scale.reshape(scale_shape)
    noise = jnp.fft.irfft(real + 1j * imag, n=n, axis=0) / sigma
    return noise.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class ICEM(_rollout.SequencePlanner):
    """Improved CEM (iCEM) with coloured noise and memory of elites (Pinneri et al. 2020).

    Defaults follow the paper's iCEM (``K = 10``, 3 iterations, ``gamma = 1.25``,
    ``xi = 0.3``, ``alpha = 0.1``, ``sigma_init = 0.5``) except the horizon (15, the library
    default; the paper uses 30) and the population, a budget choice (the paper varies it).

    Attributes:
        horizon: ``H``, the number of planned steps.
        discount: ``gamma`` in ``(0, 1]`` weighting the reward of step ``t`` by ``gamma ** t``
            (the RL discount, not the population decay).
        population: ``N``, sequences sampled in the first iteration.
        num_elites: ``K``, the best sequences that refit the distribution.
        iterations: refits per call.
        population_decay: iteration ``i`` samples ``max(int(N * decay**-i), 2 K)`` sequences.
        keep_elites_fraction: ``xi``, the share of the ``K`` elites carried into the next
            iteration and, shifted by one step, into the next call.
        noise_beta: exponent of the coloured noise along time (``0`` is white noise, the
            paper uses 2 to 3.5 depending on the task).
        alpha: momentum, the weight of the *old* mean and std in each refit, in ``[0, 1]``.
        init_std: initial std in units of the half-range ``(high - low) / 2``; reset at
            every call.
    """

    horizon: int = 15
    discount: float = 1.0
    population: int = 300
    num_elites: int = 10
    iterations: int = 3
    population_decay: float = 1.25
    keep_elites_fraction: float = 0.3
    noise_beta: float = 2.0
    alpha: float = 0.1
    init_std: float = 0.5

    def __post_init__(self) -> None:
        _rollout.check_common("ICEM", self.horizon, self.discount)
        _rollout.check_positive_int("ICEM", "population", self.population)
        _rollout.check_positive_int("ICEM", "num_elites", self.num_elites)
        _rollout.check_positive_int("ICEM", "iterations", self.iterations)
        if self.num_elites > self.population:
            raise ValueError(
                f"ICEM.num_elites ({self.num_elites}) must be <= population ({self.population})."
            )
        if not self.population_decay >= 1.0:
            raise ValueError(f"ICEM.population_decay must be >= 1, got {self.population_decay!r}.")
        _rollout.check_unit_interval("ICEM", "keep_elites_fraction", self.keep_elites_fraction)
        _rollout.check_unit_interval("ICEM", "alpha", self.alpha)
        if not self.noise_beta >= 0:
            raise ValueError(f"ICEM.noise_beta must be >= 0, got {self.noise_beta!r}.")
        if not self.init_std > 0:
            raise ValueError(f"ICEM.init_std must be > 0, got {self.init_std!r}.")

    @property
    def population_sizes(self) -> tuple[int, ...]:
        """Sequences sampled in each iteration, ``N_i = max(int(N * decay**-i), 2 K)``."""
        return tuple(
            max(int(self.population * self.population_decay**-i), 2 * self.num_elites)
            for i in range(self.iterations)
        )

    @property
    def num_kept(self) -> int:
        """Elites carried across iterations and calls, ``int(xi * K)``."""
        return int(self.keep_elites_fraction * self.num_elites)

    def parts(self):
        """``(plan, make_state, spread)`` for ``SequencePlanner.build``."""
        return _plan, self._init_state, self.init_std

    def _init_state(self, mean: Float[Array, "H A"], std: Float[Array, "H A"]) -> ICEMState:
        """The mid-point plan; the kept elites start as its copies."""
        return ICEMState(mean, std, jnp.broadcast_to(mean, (self.num_kept, *mean.shape)))


def _plan(
    cfg: ICEM,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: ICEMState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Float[Array, " A"], ICEMState, dict[str, Array]]:
    """One MPC decision: ``(action [A], next pstate, info)``; see :class:`ICEM`."""
    keys = jax.random.split(key, cfg.iterations + 1)
    mean, std = pstate.mean, pstate.std
    # The shifted elites of the previous call join the first iteration's samples.
    kept, kept_returns = pstate.elites, jnp.zeros((0,), jnp.float32)
    best_actions, best_return = mean, jnp.array(-jnp.inf, jnp.float32)
    num_finite, num_evaluated = jnp.array(0.0, jnp.float32), 0
    # A static Python loop, unrolled at trace time, not lax.scan: the population shrinks,
    # so every iteration has its own array shapes. There are only a few iterations.
    for i, size in enumerate(cfg.population_sizes):
        noise_key, eval_key = jax.random.split(keys[i])
        noise = colored_noise(noise_key, cfg.noise_beta, (mean.shape[0], size, mean.shape[1]))
        samples = jnp.clip(mean + std * jnp.moveaxis(noise, 1, 0), low, high)
        if i == cfg.iterations - 1:
            samples = samples.at[0].set(mean)
        if i == 0:  # the previous call's elites are new here: evaluate them too
            samples = jnp.concatenate([samples, kept], axis=0)
        returns = _rollout.sequence_returns(
            step, state, samples, eval_key, cfg.discount, terminal_value
        )
        num_finite += jnp.isfinite(returns).sum()
        num_evaluated += returns.shape[0]
        if i > 0:  # this call's kept elites were evaluated already: reuse their returns
            samples = jnp.concatenate([samples, kept], axis=0)
            returns = jnp.concatenate([returns, kept_returns], axis=0)
        elite_returns, elite_idx = jax.lax.top_k(returns, cfg.num_elites)
        elites = samples[elite_idx]
        mean = cfg.alpha * mean + (1 - cfg.alpha) * elites.mean(axis=0)
        std = cfg.alpha * std + (1 - cfg.alpha) * elites.std(axis=0)
        kept, kept_returns = elites[: cfg.num_kept], elite_returns[: cfg.num_kept]
        improved = elite_returns[0] > best_return
        best_actions = jnp.where(improved, elites[0], best_actions)
        best_return = jnp.maximum(elite_returns[0], best_return)

    mid = jnp.asarray((low + high) / 2)
    init_std = jnp.broadcast_to(jnp.asarray(cfg.init_std * (high - low) / 2), mean.shape)
    # The freed last step of each kept elite gets a fresh draw from the initial distribution,
    # so the carried elites do not all end in the same action.
    tail = mid + init_std[-1] * jax.random.normal(keys[-1], (cfg.num_kept, mean.shape[1]))
    next_elites = jnp.concatenate([kept[:, 1:], jnp.clip(tail, low, high)[:, None]], axis=1)
    next_pstate = ICEMState(mean=_rollout.shift_plan(mean, mid), std=init_std, elites=next_elites)
    info = {
        "expected_return": best_return,
        "best_return": best_return,
        "finite_fraction": num_finite / num_evaluated,
    }
    return best_actions[0], next_pstate, info
