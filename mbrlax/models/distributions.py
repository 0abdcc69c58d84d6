"""The distributions of latent world models (DreamerV3, Hafner et al. 2023; TD-MPC2 uses the
same scalar ones), as pure functions on arrays.

Scalars (rewards, values) are predicted in **symlog** space as a categorical over fixed
**bins** (``twohot``): the target ``symlog(y)`` puts its mass on the two bins around it, in
proportions whose mean is exactly ``symlog(y)``, and the prediction is the symexp of the
categorical's mean. Classification with a regression's mean: the loss does not grow with the
scale of the returns.

Stochastic latents are groups of **categoricals** (``[..., G, K]`` logits), mixed with 1%
uniform (``unimix``) so no probability reaches zero, sampled with **straight-through**
gradients; posterior and prior are trained with **KL balancing** and **free bits**: the prior
towards the posterior (``dyn``) and the posterior, more weakly, towards the prior (``rep``),
each loss floored at ``free_nats`` so a KL already small is left alone.

Every function takes one array of any leading shape; the last axis is the bins / classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


def symlog(x: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
    """``sign(x) log(|x| + 1)``: the identity near 0, logarithmic far from it. (Written
    without ``sign``, whose zero derivative would give symlog a zero gradient at 0.)"""
    return jnp.log1p(jnp.maximum(x, 0.0)) - jnp.log1p(jnp.maximum(-x, 0.0))


def symexp(x: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
    """``sign(x) (exp(|x|) - 1)``, the inverse of :func:`symlog`."""
    return jnp.expm1(jnp.maximum(x, 0.0)) - jnp.expm1(jnp.maximum(-x, 0.0))


def twohot_bins(num_bins: int = 255, low: float = -20.0, high: float = 20.0) -> Float[Array, " K"]:
    """``[K]`` bins evenly spaced in symlog space (DreamerV3: 255 bins over ``[-20, 20]``)."""
    if num_bins < 2 or not low < high:
        raise ValueError(
            f"twohot_bins needs num_bins >= 2 and low < high, got {num_bins}, {low}, {high}."
        )
    return jnp.linspace(low, high, num_bins)


def twohot(y: Float[Array, "*batch"], bins: Float[Array, " K"]) -> Float[Array, "*batch K"]:
    """``[..., K]`` weights on the two bins around ``y`` (in the bins' space), proportional to
    the other bin's distance, so ``twohot(y) @ bins == y``; ``y`` outside the bins goes to the
    nearest end bin."""
    y = jnp.clip(y, bins[0], bins[-1])
    upper = jnp.clip(jnp.searchsorted(bins, y, side="right"), 1, bins.shape[0] - 1)
    lower = upper - 1
    width = bins[upper] - bins[lower]
    w_upper = (y - bins[lower]) / width
    k = bins.shape[0]
    return (
        jax.nn.one_hot(lower, k) * (1.0 - w_upper)[..., None]
        + jax.nn.one_hot(upper, k) * w_upper[..., None]
    )


def twohot_mean(
    logits: Float[Array, "*batch K"], bins: Float[Array, " K"]
) -> Float[Array, "*batch"]:
    """The prediction of symlog-twohot ``logits``: ``symexp(softmax(logits) @ bins)``."""
    return symexp(jax.nn.softmax(logits, axis=-1) @ bins)


def twohot_loss(
    logits: Float[Array, "*batch K"], target: Float[Array, "*batch"], bins: Float[Array, " K"]
) -> Float[Array, "*batch"]:
    """Cross-entropy of ``logits`` against ``twohot(symlog(target))``: ``[...]`` per example."""
    labels = jax.lax.stop_gradient(twohot(symlog(target), bins))
    return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def unimix(logits: Float[Array, "*batch K"], ratio: float = 0.01) -> Float[Array, "*batch K"]:
    """Logits of ``(1 - ratio) softmax(logits) + ratio / K``: no class below ``ratio / K``."""
    probs = jax.nn.softmax(logits, axis=-1)
    probs = (1.0 - ratio) * probs + ratio / logits.shape[-1]
    return jnp.log(probs)


def categorical_kl(
    p_logits: Float[Array, "*batch K"], q_logits: Float[Array, "*batch K"]
) -> Float[Array, "*batch"]:
    """``KL(p || q)`` of categoricals given by their logits, summed over the last axis."""
    log_p = jax.nn.log_softmax(p_logits, axis=-1)
    log_q = jax.nn.log_softmax(q_logits, axis=-1)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def kl_balance(
    post_logits: Float[Array, "*batch G K"],
    prior_logits: Float[Array, "*batch G K"],
    free_nats: float = 1.0,
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """DreamerV3's ``(dyn, rep)`` losses of a posterior and prior over ``G`` categoricals:
    ``dyn = max(free_nats, KL[sg(post) || prior])`` trains the prior, ``rep = max(free_nats,
    KL[post || sg(prior)])`` the posterior (the KL summed over the groups). Weigh them in the
    world model's loss (DreamerV3: 0.5 and 0.1 in the paper, 1.0 and 0.1 in its current
    configs)."""
    sg = jax.lax.stop_gradient
    dyn = categorical_kl(sg(post_logits), prior_logits).sum(-1)
    rep = categorical_kl(post_logits, sg(prior_logits)).sum(-1)
    return jnp.maximum(dyn, free_nats), jnp.maximum(rep, free_nats)


def straight_through_sample(
    key: PRNGKeyArray, logits: Float[Array, "*batch K"]
) -> Float[Array, "*batch K"]:
    """A one-hot sample of each categorical whose gradient is that of its probabilities
    (``onehot + probs - sg(probs)``): the forward value is the sample, the backward pass sees
    the probabilities.

    Drawn by inverting the cumulative probabilities with one uniform number per categorical
    (``jax.random.categorical`` draws a Gumbel number per class: K times the random bits,
    which made sampling most of the cost of a latent step on CPU)."""
    probs = jax.nn.softmax(logits, axis=-1)
    u = jax.random.uniform(key, probs.shape[:-1] + (1,), probs.dtype)
    # The k with cdf[k - 1] <= u < cdf[k]; the last class where rounding leaves cdf[-1] <= u.
    index = jnp.minimum(jnp.sum(jnp.cumsum(probs, -1) <= u, -1), logits.shape[-1] - 1)
    sample = jax.nn.one_hot(index, logits.shape[-1], dtype=probs.dtype)
    return sample + probs - jax.lax.stop_gradient(probs)
