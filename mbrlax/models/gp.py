"""Gaussian-process dynamics model: one GP per state dimension on state deltas.

Each output ``i`` of the deltas ``next_obs - obs`` gets its own zero-mean GP over the inputs
``concat(obs, action)`` with a squared-exponential ARD kernel (per-input lengthscales, a signal
variance and a Gaussian noise variance, all per output), as in PILCO (Deisenroth & Rasmussen,
2011). Inputs and targets are standardised with the statistics of the training rows, so the
hyperparameters and their bounds live in units of one data standard deviation. Two flavours:

- exact (``num_inducing = 0``): hyperparameters maximise the log marginal likelihood; fit
  costs ``O(C^3)`` per Adam step and the posterior ``O(T C^2)`` memory for ``C`` rows. Good up
  to a couple of thousand rows.
- sparse (``num_inducing = M > 0``): the collapsed variational bound of Titsias (2009)
  ("SGPR") with ``M`` inducing inputs, drawn at every ``fit`` from the filled rows and
  optimised with the hyperparameters; fit costs ``O(C M^2)`` per step, predict ``O(M^2)``.

    model = GaussianProcessModel(GPConfig(), obs_dim=3, action_dim=1)
    params = model.init(key, capacity=buffer.capacity)
    params, metrics = model.fit(params, buffer.data, buffer.size, key)   # one jitted call
    mean, var = model.predict(params, obs, action)                      # next_obs ~ N(mean, var)
    next_obs, reward, terminated = model.step(params, obs, action, key, reward_fn)

Precision. Everything follows the dtype of the data (float32 by default). float32 is enough
for a few hundred rows of noisy data: the noise floor and the jitter (``GPConfig``) keep the
Cholesky factorisations positive, at the price of a noise floor of ``sqrt(n eps)`` times the
signal std (``n`` rows, ``eps`` the machine epsilon). Use float64 when the data are (nearly)
noise-free and many (a deterministic simulator sampled finely, thousands of rows), when you
need the marginal likelihood to many digits, or when a fit reports
``model_nonfinite_steps > 0``: enable it with ``jax.config.update("jax_enable_x64", True)`` at
program start (or the context manager ``jax.enable_x64(True)`` around the calls) and pass
float64 data; ``init`` then makes float64 hyperparameters and ``fit``, ``predict`` and ``step``
compute in float64.

Cost. ``fit`` is compiled once per (model, capacity, dtype) and its time is the Adam steps:
the exact GP factorises a ``size x size`` matrix per output and step, which on a CPU takes
tens of seconds for 600 rows and 300 steps (a GPU takes it in stride); the sparse GP's steps
cost ``O(size M^2)``. The outputs are processed one after another rather than vmapped (see
``_map_outputs``), and vmapping ``fit`` or ``predict`` over several parameter sets batches
their LAPACK calls, which can deadlock on CPU with jaxlib 0.10.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax.scipy.linalg import cho_solve, solve_triangular
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.models.base import DynamicsModel, TaskFn, check_reward_fn, task_outcome

_LOG_2PI = math.log(2.0 * math.pi)
# Floor of the standard deviations used to standardise inputs and targets: a constant column
# maps to 0 instead of inf/nan.
_MIN_DATA_STD = 1e-6


# ---- kernel and objectives ---------------------------------------------------------------------


def se_ard_kernel(
    x1: Float[Array, "N D"],
    x2: Float[Array, "M D"],
    log_lengthscales: Float[Array, " D"],
    log_signal_std: Float[Array, ""],
) -> Float[Array, "N M"]:
    """Squared-exponential ARD kernel ``s^2 exp(-|(x1 - x2) / l|^2 / 2)``: ``[N, M]``."""
    a = x1 / jnp.exp(log_lengthscales)
    b = x2 / jnp.exp(log_lengthscales)
    # The matmul form (rather than [N, M, D] differences) keeps memory at O(N M); rounding can
    # make a squared distance slightly negative, hence the clamp.
    sq = jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :] - 2.0 * a @ b.T
    return jnp.exp(2.0 * log_signal_std - 0.5 * jnp.maximum(sq, 0.0))


def _ones_mask(x: Array, mask: Bool[Array, " N"] | None) -> Bool[Array, " N"]:
    return jnp.ones(x.shape[0], bool) if mask is None else jnp.asarray(mask, bool)


def _exact_covariance(
    x: Float[Array, "N D"],
    mask: Bool[Array, " N"],
    log_lengthscales: Float[Array, " D"],
    log_signal_std: Float[Array, ""],
    log_noise_std: Float[Array, ""],
    jitter: float,
) -> Float[Array, "N N"]:
    """``K + (noise^2 + jitter s^2) I`` on the rows of ``mask``, the identity on the others
    (so they drop out of every solve and log-determinant)."""
    k = se_ard_kernel(x, x, log_lengthscales, log_signal_std)
    both = mask[:, None] & mask[None, :]
    diag = jnp.exp(2.0 * log_noise_std) + jitter * jnp.exp(2.0 * log_signal_std)
    diag = jnp.where(mask, diag, 1.0)
    return jnp.where(both, k, 0.0) + jnp.diag(diag)


@jax.custom_vjp
def _gaussian_nll(cov: Float[Array, "N N"], y: Float[Array, " N"]) -> Float[Array, ""]:
    """``y^T cov^-1 y / 2 + log|cov| / 2`` (no constant), with the textbook gradient
    ``(cov^-1 - a a^T) / 2``, ``a = cov^-1 y`` (Rasmussen & Williams, eq. 5.9): it compiles
    several times faster than differentiating through the Cholesky factorisation."""
    return _gaussian_nll_fwd(cov, y)[0]


def _gaussian_nll_fwd(cov, y):
    chol = jnp.linalg.cholesky(cov)
    alpha = cho_solve((chol, True), y)
    return 0.5 * (y @ alpha) + jnp.sum(jnp.log(jnp.diagonal(chol))), (chol, alpha)


def _gaussian_nll_bwd(res, g):
    chol, alpha = res
    inv = cho_solve((chol, True), jnp.eye(chol.shape[0], dtype=chol.dtype))
    return 0.5 * g * (inv - jnp.outer(alpha, alpha)), g * alpha


_gaussian_nll.defvjp(_gaussian_nll_fwd, _gaussian_nll_bwd)


def exact_neg_log_marginal_likelihood(
    x: Float[Array, "N D"],
    y: Float[Array, " N"],
    log_lengthscales: Float[Array, " D"],
    log_signal_std: Float[Array, ""],
    log_noise_std: Float[Array, ""],
    mask: Bool[Array, " N"] | None = None,
    jitter: float = 1e-6,
) -> Float[Array, ""]:
    """``-log N(y | 0, K + (noise^2 + jitter s^2) I)`` of one output, summed over the rows.

    Rows where ``mask [N]`` is False (default: none) are ignored, whatever they hold.
    Differentiable in reverse mode (``grad``), not forward mode.
    """
    mask = _ones_mask(x, mask)
    x = jnp.where(mask[:, None], x, 0.0)
    y = jnp.where(mask, y, 0.0)
    cov = _exact_covariance(x, mask, log_lengthscales, log_signal_std, log_noise_std, jitter)
    n = jnp.sum(mask).astype(cov.dtype)
    return _gaussian_nll(cov, y) + 0.5 * n * _LOG_2PI


class _SGPRFactors(NamedTuple):
    """Quantities of Titsias' collapsed bound for one output (names as in GPflow's SGPR).

    Attributes:
        chol: ``[M, M]`` lower Cholesky factor ``L`` of ``Kmm + jitter s^2 I``.
        a: ``[M, N]`` ``L^-1 Kmn / noise``.
        chol_b: ``[M, M]`` lower Cholesky factor ``LB`` of ``I + a a^T``.
        c: ``[M]`` ``LB^-1 a y / noise``.
    """

    chol: Float[Array, "M M"]
    a: Float[Array, "M N"]
    chol_b: Float[Array, "M M"]
    c: Float[Array, " M"]


def _sgpr_factors(
    x: Float[Array, "N D"],
    y: Float[Array, " N"],
    z: Float[Array, "M D"],
    mask: Bool[Array, " N"],
    inducing_mask: Bool[Array, " M"],
    log_lengthscales: Float[Array, " D"],
    log_signal_std: Float[Array, ""],
    log_noise_std: Float[Array, ""],
    jitter: float,
) -> _SGPRFactors:
    """Masked rows and inducing inputs are zeroed out of ``Kmn`` and identity rows of ``Kmm``."""
    x = jnp.where(mask[:, None], x, 0.0)
    y = jnp.where(mask, y, 0.0)
    kmm = se_ard_kernel(z, z, log_lengthscales, log_signal_std)
    both = inducing_mask[:, None] & inducing_mask[None, :]
    diag = jnp.where(inducing_mask, jitter * jnp.exp(2.0 * log_signal_std), 1.0)
    chol = jnp.linalg.cholesky(jnp.where(both, kmm, 0.0) + jnp.diag(diag))
    kmn = se_ard_kernel(z, x, log_lengthscales, log_signal_std)
    kmn = jnp.where(inducing_mask[:, None] & mask[None, :], kmn, 0.0)
    noise = jnp.exp(log_noise_std)
    a = solve_triangular(chol, kmn, lower=True) / noise
    chol_b = jnp.linalg.cholesky(jnp.eye(z.shape[0], dtype=a.dtype) + a @ a.T)
    c = solve_triangular(chol_b, a @ y, lower=True) / noise
    return _SGPRFactors(chol, a, chol_b, c)


def sgpr_neg_elbo(
    x: Float[Array, "N D"],
    y: Float[Array, " N"],
    z: Float[Array, "M D"],
    log_lengthscales: Float[Array, " D"],
    log_signal_std: Float[Array, ""],
    log_noise_std: Float[Array, ""],
    mask: Bool[Array, " N"] | None = None,
    inducing_mask: Bool[Array, " M"] | None = None,
    jitter: float = 1e-6,
) -> Float[Array, ""]:
    """Negative collapsed evidence lower bound of Titsias (2009) for one output:

        -log N(y | 0, Qnn + noise^2 I) + tr(Knn - Qnn) / (2 noise^2),  Qnn = Knm Kmm^-1 Kmn,

    with inducing inputs ``z [M, D]`` (``Kmm`` gets ``jitter s^2`` on its diagonal). It bounds
    :func:`exact_neg_log_marginal_likelihood` from above, with equality when ``z`` are the
    training inputs (up to the jitter). Rows where ``mask [N]`` is False and inducing inputs
    where ``inducing_mask [M]`` is False (defaults: none) are ignored.
    """
    mask = _ones_mask(x, mask)
    inducing_mask = _ones_mask(z, inducing_mask)
    hypers = (log_lengthscales, log_signal_std, log_noise_std)
    f = _sgpr_factors(x, y, z, mask, inducing_mask, *hypers, jitter)
    y = jnp.where(mask, y, 0.0)
    n = jnp.sum(mask).astype(f.a.dtype)
    noise_var = jnp.exp(2.0 * log_noise_std)
    quad = 0.5 * (y @ y / noise_var - f.c @ f.c)
    log_det = jnp.sum(jnp.log(jnp.diagonal(f.chol_b))) + n * log_noise_std
    trace = 0.5 * (n * jnp.exp(2.0 * log_signal_std) / noise_var - jnp.sum(f.a * f.a))
    return 0.5 * n * _LOG_2PI + log_det + quad + trace


# ---- configuration and parameters --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GPConfig:
    """Hyper-parameters of a :class:`GaussianProcessModel`.

    Lengths and standard deviations are in standardised units: inputs and targets are divided
    by their standard deviation over the training rows, so 1.0 means "one data std".

    Attributes:
        num_inducing: 0: exact GP. ``M > 0``: sparse variational GP (Titsias 2009, collapsed
            bound) with ``M`` inducing inputs, drawn afresh from the filled rows at every
            ``fit`` (a growing buffer reaches new regions that old inducing inputs would not
            cover) and optimised with the hyperparameters. Use it beyond ~2,000 rows.
        fit_steps: Adam steps on the negative log marginal likelihood (or bound) per ``fit``.
            300 from the initial values; refits warm-start from the previous hyperparameters,
            so they converge in fewer, and 0 just recomputes the posterior.
        learning_rate: Adam step size on the log-hyperparameters (and, sparse, on the inducing
            inputs). 0.05 moves a lengthscale by about 5% per step: 300 steps span a factor of
            ~1e6, and the steps stay small enough for the Cholesky factors to stay stable.
        min_noise_std: floor of the noise standard deviation. 1e-3 lets the model fit
            deterministic simulators almost exactly (the predictive variance at a training
            input is then ``~1e-6`` of the data variance). ``fit`` also keeps the noise above
            ``sqrt(n eps) s`` for ``n`` rows in a dtype of machine epsilon ``eps``: an ``n``-row
            kernel matrix is only known to about ``n eps s^2``, and less noise would make its
            Cholesky factorisation fail (8e-3 ``s`` for 600 rows in float32, negligible in
            float64).
        jitter: added to the diagonal of every kernel matrix, relative to the signal variance
            (``jitter * s^2``); the sparse GP's ``Kmm``, which has no noise term, also gets
            ``M eps``, its precision. 1e-6 is below any useful noise level.
        init_lengthscale: lengthscale of every input before the first fit. 1.0 (one data std)
            is neither so short that the GP forgets between points nor so long that the
            marginal likelihood is flat.
        init_signal_std: signal standard deviation before the first fit; 1.0 matches
            standardised targets.
        init_noise_std: noise standard deviation before the first fit; 0.1 (a signal-to-noise
            ratio of 10) lets the optimiser go either way.
        lengthscale_range: bounds ``(low, high)`` of every lengthscale, enforced after each
            Adam step. Below 0.01 std the GP would fit noise by memorising points; above 100
            an input is irrelevant anyway and larger values only worsen conditioning.
        signal_std_range: bounds ``(low, high)`` of the signal standard deviation. Above 100
            standardised targets the kernel matrix is ill-conditioned for no gain (long
            lengthscales with large signal variance approximate a linear function well
            before that).
    """

    num_inducing: int = 0
    fit_steps: int = 300
    learning_rate: float = 0.05
    min_noise_std: float = 1e-3
    jitter: float = 1e-6
    init_lengthscale: float = 1.0
    init_signal_std: float = 1.0
    init_noise_std: float = 0.1
    lengthscale_range: tuple[float, float] = (1e-2, 1e2)
    signal_std_range: tuple[float, float] = (1e-2, 1e2)

    def __post_init__(self):
        if not isinstance(self.num_inducing, int) or self.num_inducing < 0:
            raise ValueError(
                f"num_inducing must be an int >= 0 (0: exact GP), got {self.num_inducing!r}."
            )
        if not isinstance(self.fit_steps, int) or self.fit_steps < 0:
            raise ValueError(f"fit_steps must be an int >= 0, got {self.fit_steps!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if not self.min_noise_std > 0:
            raise ValueError(
                f"min_noise_std must be > 0 (e.g. 1e-3), got {self.min_noise_std}; a zero "
                "noise floor makes the kernel matrix singular on repeated inputs."
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1) (e.g. 1e-6), got {self.jitter}.")
        for name in ("lengthscale_range", "signal_std_range"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"{name} must be (low, high) with 0 < low <= high, got {(low, high)}."
                )
        _check_in("init_lengthscale", self.init_lengthscale, self.lengthscale_range)
        _check_in("init_signal_std", self.init_signal_std, self.signal_std_range)
        if not self.init_noise_std >= self.min_noise_std:
            raise ValueError(
                f"init_noise_std={self.init_noise_std} must be >= min_noise_std="
                f"{self.min_noise_std}."
            )

    @property
    def sparse(self) -> bool:
        """True for the sparse variational GP (``num_inducing > 0``)."""
        return self.num_inducing > 0


def _check_in(name: str, value: float, bounds: tuple[float, float]) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name}={value} must lie within its range {bounds}.")


class GPHyperparameters(eqx.Module):
    """Kernel and noise hyperparameters of the ``T`` outputs, in standardised units.

    Attributes:
        log_lengthscales: ``[T, D]`` log lengthscale of each input, per output.
        log_signal_std: ``[T]`` log signal standard deviation ``s``.
        log_noise_std: ``[T]`` log noise standard deviation (at least ``min_noise_std``).
    """

    log_lengthscales: Float[Array, "T D"]
    log_signal_std: Float[Array, " T"]
    log_noise_std: Float[Array, " T"]


class GPPosterior(eqx.Module):
    """What ``predict`` needs, precomputed by ``fit`` (standardised units).

    The support is the training rows (exact, ``S = C``) or the inducing inputs (sparse,
    ``S = M``); entries where ``support_mask`` is False are unused. Before any fit it is
    the prior: nothing in the support, so predictions are the prior's.

    Attributes:
        support: ``[T, S, D]`` support inputs per output.
        support_mask: ``[S]`` bool, the support entries in use.
        chol: ``[T, S, S]`` lower Cholesky factor of ``K + noise^2 I`` (exact) or ``Kmm``
            (sparse), with the identity on unused entries.
        chol_b: ``[T, M, M]`` sparse only: factor ``LB`` of Titsias' ``I + a a^T``
            (``[T, 0, 0]`` for the exact GP).
        alpha: ``[T, S]`` weights of the predictive mean, ``mean = k(x, support) @ alpha``.
    """

    support: Float[Array, "T S D"]
    support_mask: Bool[Array, " S"]
    chol: Float[Array, "T S S"]
    chol_b: Float[Array, "T M M"]
    alpha: Float[Array, "T S"]


class GPParams(eqx.Module):
    """Everything ``fit`` learns and ``predict`` and ``step`` use (a pytree of arrays).

    Attributes:
        hypers: the hyperparameters (``fit`` warm-starts from them).
        input_mean: ``[D]`` mean of ``concat(obs, action)`` over the training rows.
        input_std: ``[D]`` its standard deviation.
        target_mean: ``[T]`` mean of ``next_obs - obs`` over the training rows.
        target_std: ``[T]`` its standard deviation.
        posterior: the precomputed posterior.
    """

    hypers: GPHyperparameters
    input_mean: Float[Array, " D"]
    input_std: Float[Array, " D"]
    target_mean: Float[Array, " T"]
    target_std: Float[Array, " T"]
    posterior: GPPosterior


class _Variables(eqx.Module):
    """What Adam optimises: the hyperparameters and (sparse) inducing inputs ``[T, M, D]``."""

    hypers: GPHyperparameters
    inducing: Float[Array, "T M D"]


class _Moments(NamedTuple):
    """Standardisation statistics, in the order of ``GPParams``' fields."""

    input_mean: Float[Array, " D"]
    input_std: Float[Array, " D"]
    target_mean: Float[Array, " T"]
    target_std: Float[Array, " T"]


class _AdamCarry(NamedTuple):
    variables: _Variables
    opt_state: optax.OptState
    best: _Variables  # the variables of the lowest loss so far
    best_loss: Float[Array, ""]


class _Optimised(NamedTuple):
    """Result of the hyperparameter optimisation.

    Attributes:
        variables: the variables of the lowest objective met.
        loss: ``[]`` that objective.
        initial_loss: ``[]`` the objective before the first step.
        nonfinite_steps: ``[]`` int, steps skipped for a non-finite gradient.
    """

    variables: _Variables
    loss: Float[Array, ""]
    initial_loss: Float[Array, ""]
    nonfinite_steps: Int[Array, ""]


class _FitData(NamedTuple):
    """Standardised training rows; masked rows hold zeros.

    Attributes:
        x: ``[C, D]`` inputs.
        y: ``[C, T]`` targets.
        mask: ``[C]`` bool, the filled rows.
        inducing_mask: ``[M]`` bool, the inducing inputs in use (fewer rows than ``M``).
    """

    x: Float[Array, "C D"]
    y: Float[Array, "C T"]
    mask: Bool[Array, " C"]
    inducing_mask: Bool[Array, " M"]


# ---- the model ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GaussianProcessModel(DynamicsModel):
    """GP dynamics model; static and hashable, its methods are pure functions of ``params``.

    Attributes:
        config: hyper-parameters.
        obs_dim: ``d``, size of a (flat) observation; also the number of outputs ``T``.
        action_dim: ``A``, size of an action.
    """

    config: GPConfig
    obs_dim: int
    action_dim: int

    def __post_init__(self):
        if self.obs_dim < 1 or self.action_dim < 1:
            raise ValueError(
                f"obs_dim and action_dim must be >= 1, got {self.obs_dim} and {self.action_dim}."
            )

    @property
    def input_dim(self) -> int:
        """``D = d + A``."""
        return self.obs_dim + self.action_dim

    # ---- parameters ----------------------------------------------------------------------------

    def init(self, key: PRNGKeyArray, capacity: int | None = None) -> GPParams:
        """The prior: hyperparameters at their ``init_*`` values, identity standardisation, an
        empty posterior. Deterministic (``key`` is unused: inducing inputs are drawn by ``fit``).

        The exact GP's posterior holds one entry per buffer row; pass the buffer's
        ``capacity`` to allocate it now, so that params keep the same shapes before and after
        ``fit`` (a jitted caller then compiles once). Without it the prior has no entries.
        """
        del key
        cfg, t, d = self.config, self.obs_dim, self.input_dim
        dtype = jnp.zeros(()).dtype  # float32, or float64 under jax_enable_x64
        hypers = GPHyperparameters(
            log_lengthscales=jnp.full((t, d), math.log(cfg.init_lengthscale), dtype),
            log_signal_std=jnp.full((t,), math.log(cfg.init_signal_std), dtype),
            log_noise_std=jnp.full((t,), math.log(cfg.init_noise_std), dtype),
        )
        s = cfg.num_inducing if cfg.sparse else int(capacity or 0)
        m = s if cfg.sparse else 0
        eye = _eyes(t, s, dtype)
        posterior = GPPosterior(
            support=jnp.zeros((t, s, d), dtype),
            support_mask=jnp.zeros((s,), bool),
            chol=eye,
            chol_b=_eyes(t, m, dtype),
            alpha=jnp.zeros((t, s), dtype),
        )
        return GPParams(
            hypers=hypers,
            input_mean=jnp.zeros((d,), dtype),
            input_std=jnp.ones((d,), dtype),
            target_mean=jnp.zeros((t,), dtype),
            target_std=jnp.ones((t,), dtype),
            posterior=posterior,
        )

    # ---- prediction ----------------------------------------------------------------------------

    def predict(
        self,
        params: GPParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        include_noise: bool = True,
    ) -> tuple[Float[Array, " d"], Float[Array, " d"]]:
        """Gaussian predictive distribution of ``next_obs`` for ONE example (vmap for more).

        Returns ``(mean [d], var [d])``: ``mean = obs +`` the posterior mean of the delta;
        ``var`` is the latent function's posterior variance plus, when ``include_noise``
        (default), the learned noise variance, i.e. the distribution of an observed next
        state. ``include_noise=False`` gives the latent (epistemic) variance alone, which
        shrinks to ~0 at the training inputs and grows to the signal variance far from them.
        """
        obs, action = self.check_example(obs, action, params.input_mean.dtype)
        x = (jnp.concatenate([obs, action]) - params.input_mean) / params.input_std
        # A loop over the (few) outputs, not a vmap: see _map_outputs.
        outputs = [self._latent(params, t, x) for t in range(self.obs_dim)]
        mean, var = (jnp.stack(a) for a in zip(*outputs, strict=True))
        if include_noise:
            var = var + jnp.exp(2.0 * params.hypers.log_noise_std)
        return obs + params.target_mean + mean * params.target_std, var * params.target_std**2

    def _latent(self, params: GPParams, t: int, x: Float[Array, " D"]):
        """Standardised latent mean ``[]`` and variance ``[]`` of output ``t`` at ``x [D]``."""
        h, post = params.hypers, params.posterior
        lss = h.log_signal_std[t]
        k = se_ard_kernel(x[None], post.support[t], h.log_lengthscales[t], lss)
        k = jnp.where(post.support_mask, k[0], 0.0)
        v = solve_triangular(post.chol[t], k, lower=True)
        var = jnp.exp(2.0 * lss) - v @ v
        if self.config.sparse:
            w = solve_triangular(post.chol_b[t], v, lower=True)
            var = var + w @ w
        return k @ post.alpha[t], jnp.maximum(var, 0.0)

    def step(
        self,
        params: GPParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """One sampled transition of ONE example: ``next_obs = mean + sqrt(var) * eps`` with
        the predictive ``mean, var`` of :meth:`predict` (noise included), ``eps ~ N(0, I)``.

        Returns ``(next_obs [d], reward [], terminated [])`` with the reward and termination
        given by ``reward_fn`` and ``termination_fn`` of ``(obs, action, next_obs)``; without
        ``termination_fn`` the transition never terminates.

        Raises:
            ValueError: (at trace time) no ``reward_fn``: a GP model does not learn rewards.
        """
        self.check_task_fns(reward_fn, termination_fn)
        mean, var = self.predict(params, obs, action)
        next_obs = mean + jnp.sqrt(var) * jax.random.normal(key, mean.shape, mean.dtype)
        return next_obs, *self._outcome(obs, action, next_obs, reward_fn, termination_fn)

    def expected_step(
        self,
        params: GPParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """:meth:`step` with the predictive mean in place of a sample:
        ``(next_obs [d], reward [], terminated [])``."""
        self.check_task_fns(reward_fn, termination_fn)
        next_obs, _ = self.predict(params, obs, action)
        return next_obs, *self._outcome(obs, action, next_obs, reward_fn, termination_fn)

    def _outcome(self, obs, action, next_obs, reward_fn, termination_fn):
        obs, action = self.check_example(obs, action, next_obs.dtype)
        return task_outcome(obs, action, next_obs, reward_fn, termination_fn, next_obs.dtype)

    def check_task_fns(self, reward_fn: TaskFn | None, termination_fn: TaskFn | None) -> None:
        """Raise a ValueError saying what to pass when there is no reward function.
        (``termination_fn`` may be None: the model then never terminates.)"""
        del termination_fn
        check_reward_fn(reward_fn, type(self).__name__)

    # ---- training ------------------------------------------------------------------------------

    def fit(
        self,
        params: GPParams,
        data: Transition,
        size: Int[Array, ""] | int,
        key: PRNGKeyArray,
    ) -> tuple[GPParams, dict[str, Float[Array, ""]]]:
        """Fit the GP to the first ``size`` rows of ``data`` (one jitted call).

        ``data`` holds capacity-sized arrays (``buffer.data``: obs ``[C, d]``, action ``[C, A]``,
        next_obs ``[C, d]``; reward and terminated are not used); rows ``[size, C)`` are
        ignored whatever they hold, and ``size`` is traced, so a growing buffer compiles once
        per capacity. Steps: standardise inputs and targets with the filled rows' statistics;
        (sparse) draw the inducing inputs from the filled rows with ``key``; run
        ``fit_steps`` Adam steps on the mean over outputs of the negative log marginal
        likelihood (exact) or negative collapsed bound (sparse) per row, starting from
        ``params.hypers`` and projecting onto the config's bounds after each step (a step whose
        gradient is not finite is skipped); precompute the posterior.

        Returns ``(params, metrics)``: ``model_train_loss`` (the objective per row and output
        at the final hyperparameters, standardised units), ``model_initial_loss`` (the same
        before the first step), ``model_lengthscale``, ``model_signal_std`` and
        ``model_noise_std`` (means over inputs and outputs, standardised units) and
        ``model_nonfinite_steps`` (Adam steps skipped for a non-finite gradient).
        """
        self.check_fit_data(data, size)
        return _fit_jit(self, params.hypers, data, jnp.asarray(size, jnp.int32), key)

    def _prepare(self, data: Transition, size: Int[Array, ""], key: PRNGKeyArray):
        """Standardised rows, their statistics, and the initial inducing inputs ``[T, M, D]``."""
        dtype = jnp.promote_types(jnp.result_type(data.obs, data.next_obs), jnp.float32)
        cap = data.obs.shape[0]
        mask = jnp.arange(cap) < size
        obs = data.obs.astype(dtype)
        x = jnp.concatenate([obs, data.action.astype(dtype)], axis=-1)
        y = data.next_obs.astype(dtype) - obs
        x_mean, x_std = _masked_moments(x, mask)
        y_mean, y_std = _masked_moments(y, mask)
        x = jnp.where(mask[:, None], (x - x_mean) / x_std, 0.0)
        y = jnp.where(mask[:, None], (y - y_mean) / y_std, 0.0)
        m = self.config.num_inducing
        # A random subset of the filled rows: they come first in a random order.
        order = jnp.argsort(jnp.where(mask, jax.random.uniform(key, (cap,)), 2.0))
        inducing = x[order[jnp.arange(m) % cap]]
        inducing = jnp.broadcast_to(inducing, (self.obs_dim, m, self.input_dim))
        fd = _FitData(x, y, mask, jnp.arange(m) < size)
        return fd, _Moments(x_mean, x_std, y_mean, y_std), inducing

    def _objective(self, v: _Variables, fd: _FitData) -> Float[Array, ""]:
        """Mean over outputs of the negative log marginal likelihood (or bound) per row."""
        h = v.hypers
        jitter = self._inducing_jitter(fd.x.dtype) if self.config.sparse else self.config.jitter

        def one(lls, lss, lns, y, z):
            if self.config.sparse:
                return sgpr_neg_elbo(fd.x, y, z, lls, lss, lns, fd.mask, fd.inducing_mask, jitter)
            return exact_neg_log_marginal_likelihood(fd.x, y, lls, lss, lns, fd.mask, jitter)

        per_output = _map_outputs(
            one, h.log_lengthscales, h.log_signal_std, h.log_noise_std, fd.y.T, v.inducing
        )
        n = jnp.maximum(jnp.sum(fd.mask), 1).astype(per_output.dtype)
        return jnp.mean(per_output) / n

    def _project(self, v: _Variables, fd: _FitData) -> _Variables:
        """Clip the log-hyperparameters into the config's bounds and the noise floor."""
        cfg = self.config
        ls_lo, ls_hi = (math.log(b) for b in cfg.lengthscale_range)
        s_lo, s_hi = (math.log(b) for b in cfg.signal_std_range)
        h = v.hypers
        log_signal_std = jnp.clip(h.log_signal_std, s_lo, s_hi)
        hypers = GPHyperparameters(
            log_lengthscales=jnp.clip(h.log_lengthscales, ls_lo, ls_hi),
            log_signal_std=log_signal_std,
            log_noise_std=jnp.maximum(h.log_noise_std, self._log_noise_floor(log_signal_std, fd)),
        )
        return _Variables(hypers, v.inducing)

    def _log_noise_floor(self, log_signal_std: Float[Array, " T"], fd: _FitData):
        """``log max(min_noise_std, sqrt(n eps) s)`` ``[T]``: a kernel matrix of ``n`` rows is
        only known to about ``n eps s^2`` in a dtype of machine epsilon ``eps`` (the backward
        error of its Cholesky factorisation), so a smaller noise variance would make the
        factorisation fail in float32; in float64 the floor is ``min_noise_std``."""
        n = jnp.maximum(jnp.sum(fd.mask), 1).astype(fd.x.dtype)
        precision = log_signal_std + 0.5 * jnp.log(n * jnp.finfo(fd.x.dtype).eps)
        return jnp.maximum(math.log(self.config.min_noise_std), precision)

    def _inducing_jitter(self, dtype) -> float:
        """Jitter of ``Kmm``: the config's plus ``M eps``, its precision limit (see above)."""
        return self.config.jitter + self.config.num_inducing * float(jnp.finfo(dtype).eps)

    def _optimise(self, v: _Variables, fd: _FitData) -> _Optimised:
        """``fit_steps`` projected Adam steps from ``v``; keeps the variables of lowest loss."""
        cfg = self.config
        # Skip, rather than apply, a step whose gradient is not finite (a Cholesky that failed
        # at an extreme point); never give up and apply it.
        opt = optax.apply_if_finite(optax.adam(cfg.learning_rate), cfg.fit_steps + 1)
        grad_fn = jax.value_and_grad(self._objective)

        def body(c: _AdamCarry, _) -> tuple[_AdamCarry, Float[Array, ""]]:
            loss, grads = grad_fn(c.variables, fd)
            better = loss < c.best_loss  # False for nan
            best = jax.tree.map(lambda a, b: jnp.where(better, a, b), c.variables, c.best)
            updates, opt_state = opt.update(grads, c.opt_state, c.variables)
            v = self._project(optax.apply_updates(c.variables, updates), fd)
            return _AdamCarry(v, opt_state, best, jnp.where(better, loss, c.best_loss)), loss

        v = self._project(v, fd)
        inf = jnp.array(jnp.inf, fd.x.dtype)
        init = _AdamCarry(v, opt.init(v), v, inf)
        out, losses = jax.lax.scan(body, init, length=cfg.fit_steps)
        last_loss = self._objective(out.variables, fd)
        better = ~(out.best_loss <= last_loss)  # the last step's result, unless worse or nan
        best = jax.tree.map(lambda a, b: jnp.where(better, a, b), out.variables, out.best)
        return _Optimised(
            variables=best,
            loss=jnp.where(better, last_loss, out.best_loss),
            initial_loss=losses[0] if cfg.fit_steps else last_loss,
            nonfinite_steps=out.opt_state.total_notfinite,
        )

    def _posterior(self, v: _Variables, fd: _FitData) -> GPPosterior:
        """Precompute the per-output posterior at the fitted variables."""
        h = v.hypers
        if self.config.sparse:
            jitter = self._inducing_jitter(fd.x.dtype)

            def one(lls, lss, lns, y, z):
                f = _sgpr_factors(fd.x, y, z, fd.mask, fd.inducing_mask, lls, lss, lns, jitter)
                alpha = solve_triangular(f.chol_b, f.c, lower=True, trans=1)
                alpha = solve_triangular(f.chol, alpha, lower=True, trans=1)
                return f.chol, f.chol_b, alpha

            support, support_mask = v.inducing, fd.inducing_mask
        else:
            jitter = self.config.jitter

            def one(lls, lss, lns, y, z):
                cov = _exact_covariance(fd.x, fd.mask, lls, lss, lns, jitter)
                chol = jnp.linalg.cholesky(cov)
                alpha = cho_solve((chol, True), y)
                return chol, jnp.zeros((0, 0), chol.dtype), alpha

            t = self.obs_dim
            support = jnp.broadcast_to(fd.x, (t,) + fd.x.shape)
            support_mask = fd.mask
        chol, chol_b, alpha = _map_outputs(
            one, h.log_lengthscales, h.log_signal_std, h.log_noise_std, fd.y.T, v.inducing
        )
        return GPPosterior(support, support_mask, chol, chol_b, alpha)


def _map_outputs(fn, *per_output: Array):
    """``fn`` of each output's slice of the ``per_output`` arrays (leading axis ``T``), stacked.

    A sequential ``lax.map`` rather than ``vmap``: a vmap would batch the Cholesky factorisations
    and triangular solves, and on CPU (jaxlib 0.10) batched LAPACK kernels spread their batch
    over XLA's intra-op thread pool from inside a pool worker; two such independent kernels
    running at once can leave every worker waiting on the others (a deadlock, seen on 2 cores
    with the sparse bound's gradient). One output at a time costs nothing on the large solves.
    """
    return jax.lax.map(lambda args: fn(*args), per_output)


def _eyes(t: int, n: int, dtype) -> Float[Array, "T n n"]:
    """``t`` stacked ``n x n`` identities."""
    return jnp.broadcast_to(jnp.eye(n, dtype=dtype), (t, n, n))


def _masked_moments(
    x: Float[Array, "C k"], mask: Bool[Array, " C"]
) -> tuple[Float[Array, " k"], Float[Array, " k"]]:
    """Mean and standard deviation (floored) of the rows of ``x`` where ``mask`` is True."""
    w = mask[:, None]
    n = jnp.maximum(jnp.sum(mask), 1).astype(x.dtype)
    mean = jnp.sum(jnp.where(w, x, 0.0), axis=0) / n
    var = jnp.sum(jnp.where(w, jnp.square(x - mean), 0.0), axis=0) / n
    return mean, jnp.maximum(jnp.sqrt(var), _MIN_DATA_STD)


def _fit(
    model: GaussianProcessModel,
    hypers: GPHyperparameters,
    data: Transition,
    size: Int[Array, ""],
    key: PRNGKeyArray,
) -> tuple[GPParams, dict[str, Float[Array, ""]]]:
    fd, moments, inducing = model._prepare(data, size, key)
    hypers = jax.tree.map(lambda a: a.astype(fd.x.dtype), hypers)
    opt = model._optimise(_Variables(hypers, inducing), fd)
    h = opt.variables.hypers
    params = GPParams(h, *moments, posterior=model._posterior(opt.variables, fd))
    metrics = {
        "model_train_loss": opt.loss,
        "model_initial_loss": opt.initial_loss,
        "model_lengthscale": jnp.mean(jnp.exp(h.log_lengthscales)),
        "model_signal_std": jnp.mean(jnp.exp(h.log_signal_std)),
        "model_noise_std": jnp.mean(jnp.exp(h.log_noise_std)),
        "model_nonfinite_steps": opt.nonfinite_steps,
    }
    return params, metrics


# Compiled once per (model, capacity, dtype): only the hyperparameters of `params` go in, so a
# prior from `init` and a fitted posterior share the compile; `size` is traced.
_fit_jit = jax.jit(_fit, static_argnums=0)


__all__ = [
    "GPConfig",
    "GPHyperparameters",
    "GPParams",
    "GPPosterior",
    "GaussianProcessModel",
    "exact_neg_log_marginal_likelihood",
    "se_ard_kernel",
    "sgpr_neg_elbo",
]
