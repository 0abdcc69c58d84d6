"""The small layers the latent models and their agents share (RSSM, Dreamer, PlaNet, TD-MPC2):
a linear layer with LayerNorm and an activation, MLPs of them, and SimNorm.

Every network is a tuple of :class:`Dense` layers (arrays only: it checkpoints as it is) and
runs on one example; ``vmap`` batches it.
"""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

Activation = Literal["silu", "mish", "none"]


def layer_norm(y: Array, scale: Array, offset: Array) -> Array:
    """LayerNorm over the last axis (features, or a frame's channels), epsilon 1e-3."""
    mean, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
    return (y - mean) * jax.lax.rsqrt(var + 1e-3) * scale + offset


def mish(x: Array) -> Array:
    """``x tanh(softplus(x))`` (Misra 2019; TD-MPC2's activation)."""
    return x * jnp.tanh(jax.nn.softplus(x))


_ACTIVATIONS = {"silu": jax.nn.silu, "mish": mish, "none": lambda x: x}


def simnorm(x: Float[Array, "... D"], group: int = 8) -> Float[Array, "... D"]:
    """Simplicial normalisation (Lavoie et al. 2022; TD-MPC2's latent): a softmax over each
    of the ``D / group`` consecutive groups of ``group`` entries."""
    if x.shape[-1] % group:
        raise ValueError(f"simnorm needs a size divisible by {group}, got {x.shape[-1]}.")
    groups = x.reshape(*x.shape[:-1], -1, group)
    return jax.nn.softmax(groups, axis=-1).reshape(x.shape)


class Dense(eqx.Module):
    """``[in] -> [out]``: a linear layer, then (unless it is an output: no ``scale``)
    LayerNorm and the ``activation``."""

    weight: Float[Array, "i o"]
    bias: Float[Array, " o"]
    scale: Float[Array, " o"] | None
    offset: Float[Array, " o"] | None
    activation: Activation = eqx.field(static=True, default="silu")

    def __call__(
        self, x: Float[Array, " i"], dropout: float = 0.0, key: PRNGKeyArray | None = None
    ) -> Float[Array, " o"]:
        """The layer on ``x``; with ``dropout > 0`` and a ``key``, inverted dropout of the
        linear output before the LayerNorm (TD-MPC2's Q-functions)."""
        y = x @ self.weight + self.bias
        if self.scale is None:
            return y
        if dropout > 0.0 and key is not None:
            keep = jax.random.bernoulli(key, 1.0 - dropout, y.shape)
            y = jnp.where(keep, y / (1.0 - dropout), 0.0)
        y = layer_norm(y, self.scale, self.offset)
        return _ACTIVATIONS[self.activation](y)


def dense(
    key: PRNGKeyArray,
    n_in: int,
    n_out: int,
    hidden: bool,
    scale: float = 1.0,
    activation: Activation = "silu",
    init_std: float | None = None,
) -> Dense:
    """A :class:`Dense` layer: weights variance-scaling (fan-in) uniform times ``scale``, or,
    with ``init_std``, a normal of that std truncated at two (TD-MPC2: 0.02) times ``scale``;
    ``hidden`` adds the LayerNorm (an output layer is linear)."""
    if init_std is None:
        bound = scale * math.sqrt(3.0 / n_in)
        weight = jax.random.uniform(key, (n_in, n_out), jnp.float32, -bound, bound)
    else:
        normal = jax.random.truncated_normal(key, -2.0, 2.0, (n_in, n_out), jnp.float32)
        weight = scale * init_std * normal
    norm = (jnp.ones(n_out), jnp.zeros(n_out)) if hidden else (None, None)
    return Dense(weight, jnp.zeros(n_out), *norm, activation=activation)


def mlp(
    key: PRNGKeyArray,
    n_in: int,
    units: int,
    layers: int,
    n_out: int,
    out_scale: float = 1.0,
    activation: Activation = "silu",
    init_std: float | None = None,
) -> tuple[Dense, ...]:
    """``layers`` hidden :class:`Dense` layers of ``units`` and a linear output of ``n_out``
    (its weights scaled by ``out_scale``; 0 starts a head at a uniform prediction)."""
    keys = jax.random.split(key, layers + 1)
    sizes = [n_in] + [units] * layers
    hidden = [
        dense(k, a, b, True, activation=activation, init_std=init_std)
        for k, a, b in zip(keys[:-1], sizes[:-1], sizes[1:], strict=False)
    ]
    out = dense(keys[-1], sizes[-1], n_out, False, out_scale, init_std=init_std)
    return (*hidden, out)


def apply_mlp(
    net: tuple[Dense, ...],
    x: Float[Array, " i"],
    dropout: float = 0.0,
    key: PRNGKeyArray | None = None,
) -> Float[Array, " o"]:
    """One example through the layers of :func:`mlp`; ``dropout`` (with a ``key``) in the
    first layer only, as TD-MPC2's Q-functions."""
    for i, layer in enumerate(net):
        x = layer(x, dropout, key) if i == 0 else layer(x)
    return x
