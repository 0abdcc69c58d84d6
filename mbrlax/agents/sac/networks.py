"""The networks of SAC: plain ReLU MLPs, a tanh-squashed Gaussian policy and twin Q-functions.

Every network takes one example; batches come from ``vmap``. Parameters are
:class:`MLP` pytrees of arrays only (no functions inside), so they checkpoint as they are.
Actions inside SAC live in the normalised box ``[-1, 1]^A``; the agent maps them to the env's
bounds (``low + (a + 1) (high - low) / 2``).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

LOG_2 = math.log(2.0)


class MLP(eqx.Module):
    """A ReLU multilayer perceptron (linear last layer).

    Attributes:
        weights: per layer ``[in, out]`` (with a leading member axis for stacked nets).
        biases: per layer ``[out]``.
    """

    weights: tuple[Float[Array, "i o"], ...]
    biases: tuple[Float[Array, " o"], ...]

    def __call__(self, x: Float[Array, " i"]) -> Float[Array, " o"]:
        """One example ``[in] -> [out]``."""
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = jax.nn.relu(x @ w + b)
        return x @ self.weights[-1] + self.biases[-1]


def init_mlp(key: PRNGKeyArray, sizes: tuple[int, ...]) -> MLP:
    """An MLP with layer widths ``sizes`` (input first, output last), PyTorch's default
    initialisation: weights and biases ``U(-1/sqrt(in), 1/sqrt(in))``."""
    weights, biases = [], []
    layer_keys = jax.random.split(key, len(sizes) - 1)
    for layer_key, n_in, n_out in zip(layer_keys, sizes[:-1], sizes[1:], strict=True):
        k_w, k_b = jax.random.split(layer_key)
        bound = 1.0 / math.sqrt(n_in)
        weights.append(jax.random.uniform(k_w, (n_in, n_out), jnp.float32, -bound, bound))
        biases.append(jax.random.uniform(k_b, (n_out,), jnp.float32, -bound, bound))
    return MLP(tuple(weights), tuple(biases))


def init_twin_critic(
    key: PRNGKeyArray, obs_dim: int, action_dim: int, hidden: tuple[int, ...]
) -> MLP:
    """Two Q-networks ``(obs, action) -> []`` stacked on a leading axis ``[2, ...]``."""
    sizes = (obs_dim + action_dim, *hidden, 1)
    return jax.vmap(lambda k: init_mlp(k, sizes))(jax.random.split(key, 2))


def twin_q(critic: MLP, obs: Float[Array, " d"], action: Float[Array, " A"]) -> Float[Array, " 2"]:
    """Both Q-values of one ``(obs, normalised action)``."""
    x = jnp.concatenate([obs, action])
    return jax.vmap(lambda net: net(x)[0])(critic)


def init_actor(key: PRNGKeyArray, obs_dim: int, action_dim: int, hidden: tuple[int, ...]) -> MLP:
    """A policy network ``obs -> (mean [A], raw log-std [A])``."""
    return init_mlp(key, (obs_dim, *hidden, 2 * action_dim))


def gaussian_params(
    actor: MLP, obs: Float[Array, " d"], log_std_bounds: tuple[float, float]
) -> tuple[Float[Array, " A"], Float[Array, " A"]]:
    """``(mean, log_std)`` of the pre-squash Gaussian; the log-std is squashed smoothly into
    ``log_std_bounds`` (as in SAC's reference implementations)."""
    out = actor(obs)
    mean, raw = jnp.split(out, 2)
    lo, hi = log_std_bounds
    log_std = lo + 0.5 * (hi - lo) * (jnp.tanh(raw) + 1.0)
    return mean, log_std


def sample_action(
    actor: MLP, obs: Float[Array, " d"], key: PRNGKeyArray, log_std_bounds: tuple[float, float]
) -> tuple[Float[Array, " A"], Float[Array, ""]]:
    """A reparametrised draw ``a = tanh(mean + std * eps)`` in ``[-1, 1]^A`` and its log-density.

    ``log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2)``, the last term written as
    ``2 (log 2 - u - softplus(-2u))`` so that it stays finite at saturated actions.
    """
    mean, log_std = gaussian_params(actor, obs, log_std_bounds)
    eps = jax.random.normal(key, mean.shape)
    u = mean + jnp.exp(log_std) * eps
    log_normal = jnp.sum(-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi))
    log_det = jnp.sum(2.0 * (LOG_2 - u - jax.nn.softplus(-2.0 * u)))
    return jnp.tanh(u), log_normal - log_det


def mean_action(
    actor: MLP, obs: Float[Array, " d"], log_std_bounds: tuple[float, float]
) -> Float[Array, " A"]:
    """The deterministic action ``tanh(mean)`` in ``[-1, 1]^A`` (evaluation episodes)."""
    return jnp.tanh(gaussian_params(actor, obs, log_std_bounds)[0])
