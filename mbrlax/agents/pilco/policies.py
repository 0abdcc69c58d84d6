"""PILCO's policies: a radial-basis-function network or a linear map, squashed to the action box.

Both take ONE observation and return one action inside ``[low, high]``:

    u = mid + half * tanh(g(z)),   z = (obs - obs_mean) / obs_std,

with ``mid, half`` the centre and half-width of the box. PILCO (Deisenroth & Rasmussen, 2011)
squashes with ``(9 sin x + sin 3x) / 8`` because its moments under a Gaussian are closed-form;
mbrlax propagates particles (see :mod:`mbrlax.agents.pilco.agent`), so any smooth squashing
works and ``tanh`` is used. The normalisation ``obs_mean, obs_std`` is set from the data when
the policy is first fitted (one scale shared by all dimensions, see :func:`init_policy`) and
is not trained (its gradient is stopped).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class RBFPolicy(eqx.Module):
    """``g(z) = sum_b w_b exp(-|(z - c_b) / l|^2 / 2)``: PILCO's nonlinear controller (the mean
    of a GP with ``B`` pseudo-inputs, here trained directly).

    Attributes:
        centres: ``[B, d]`` basis centres (normalised observation units).
        log_lengthscales: ``[d]`` shared ARD lengthscales (log).
        weights: ``[B, A]`` output weights.
        obs_mean: ``[d]`` observation normaliser (not trained).
        obs_std: ``[d]``.
        low: ``[A]`` action lower bounds (not trained).
        high: ``[A]``.
    """

    centres: Float[Array, "B d"]
    log_lengthscales: Float[Array, " d"]
    weights: Float[Array, "B A"]
    obs_mean: Float[Array, " d"]
    obs_std: Float[Array, " d"]
    low: Float[Array, " A"]
    high: Float[Array, " A"]

    def __call__(self, obs: Float[Array, " d"]) -> Float[Array, " A"]:
        z = _normalise(obs, self.obs_mean, self.obs_std)
        scaled = (z - self.centres) / jnp.exp(self.log_lengthscales)
        features = jnp.exp(-0.5 * jnp.sum(scaled**2, axis=-1))
        return _squash(features @ self.weights, self.low, self.high)


class LinearPolicy(eqx.Module):
    """``g(z) = W z + b``: PILCO's linear controller.

    Attributes:
        weight: ``[A, d]``.
        bias: ``[A]``.
        obs_mean, obs_std, low, high: as in :class:`RBFPolicy`.
    """

    weight: Float[Array, "A d"]
    bias: Float[Array, " A"]
    obs_mean: Float[Array, " d"]
    obs_std: Float[Array, " d"]
    low: Float[Array, " A"]
    high: Float[Array, " A"]

    def __call__(self, obs: Float[Array, " d"]) -> Float[Array, " A"]:
        z = _normalise(obs, self.obs_mean, self.obs_std)
        return _squash(self.weight @ z + self.bias, self.low, self.high)


Policy = RBFPolicy | LinearPolicy


def _normalise(obs: Float[Array, " d"], mean: Float[Array, " d"], std: Float[Array, " d"]):
    """``(obs - mean) / std`` with the (untrained) normaliser's gradient stopped."""
    return (obs - jax.lax.stop_gradient(mean)) / jax.lax.stop_gradient(std)


def _squash(pre: Float[Array, " A"], low: Float[Array, " A"], high: Float[Array, " A"]):
    low, high = jax.lax.stop_gradient(low), jax.lax.stop_gradient(high)
    return (high + low) / 2 + (high - low) / 2 * jnp.tanh(pre)


def init_policy(
    kind: str,
    key: PRNGKeyArray,
    obs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    low: Float[Array, " A"],
    high: Float[Array, " A"],
    num_basis: int,
) -> Policy:
    """A fresh policy fitted to the observations ``obs [N, d]`` whose rows have weight
    ``weights [N]`` (1 for data, 0 for empty buffer rows): the normaliser is their mean and
    one scale for all dimensions (the root-mean-square of their standard deviations), RBF
    centres are ``num_basis`` of them drawn at random (jittered), the lengthscales 1 and the
    weights small, so the first policy is a gentle random function
    (PILCO initialises its controller the same way, around the start states)."""
    w = weights / jnp.maximum(jnp.sum(weights), 1.0)
    mean = w @ obs
    # One scale for every dimension (their root-mean-square standard deviation): per-dimension
    # scales would put states the first data never reached at absurd distances (the
    # swing-up's random episode barely moves cos(theta), so upright would be ~40 of its
    # standard deviations away, where every basis function is zero and has no gradient).
    scale = jnp.sqrt(jnp.maximum(jnp.mean(w @ (obs - mean) ** 2), 1e-6))
    std = jnp.full_like(mean, scale)
    d, a = obs.shape[-1], low.shape[-1]
    k_rows, k_jitter, k_weights = jax.random.split(key, 3)
    if kind == "linear":
        weight = 0.1 * jax.random.normal(k_weights, (a, d))
        return LinearPolicy(weight, jnp.zeros(a), mean, std, low, high)
    rows = jax.random.choice(k_rows, obs.shape[0], (num_basis,), p=w)
    centres = (obs[rows] - mean) / std + 0.1 * jax.random.normal(k_jitter, (num_basis, d))
    weight = 0.1 * jax.random.normal(k_weights, (num_basis, a))
    return RBFPolicy(centres, jnp.zeros(d), weight, mean, std, low, high)


def empty_policy(
    kind: str, obs_dim: int, low: Float[Array, " A"], high: Float[Array, " A"], num_basis: int
) -> Policy:
    """A placeholder of the right shapes acting at the centre of the box (zero weights); the
    agent's state holds it until the first fit replaces it with :func:`init_policy`."""
    d, a = obs_dim, low.shape[-1]
    ones, zeros = jnp.ones(d), jnp.zeros(d)
    if kind == "linear":
        return LinearPolicy(jnp.zeros((a, d)), jnp.zeros(a), zeros, ones, low, high)
    return RBFPolicy(jnp.zeros((num_basis, d)), zeros, jnp.zeros((num_basis, a)), zeros, ones,
                     low, high)  # fmt: skip
