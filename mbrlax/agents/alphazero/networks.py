"""The policy-value network of AlphaZero (and MuZero's prediction function).

One ReLU MLP with ``num_actions + 1`` outputs: the prior's logits over the actions and a
value. The value head predicts returns divided by ``value_scale`` so that its targets are of
order one whatever the env's reward scale (CartPole's discounted returns reach 100).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.agents.sac.networks import MLP, init_mlp


def init_policy_value(
    key: PRNGKeyArray, obs_dim: int, num_actions: int, hidden: tuple[int, ...]
) -> MLP:
    """An MLP ``obs [obs_dim] -> [num_actions + 1]`` (logits, then the scaled value)."""
    return init_mlp(key, (obs_dim, *hidden, num_actions + 1))


def policy_value(
    net: MLP, obs: Float[Array, " d"], value_scale: float
) -> tuple[Float[Array, " N"], Float[Array, ""]]:
    """``(prior logits [N], value [])`` of one observation; the value in return units."""
    out = net(jnp.asarray(obs, jnp.float32).reshape(-1))
    return out[:-1], out[-1] * value_scale


def policy_value_loss(
    net: MLP,
    obs: Float[Array, "B d"],
    policy_targets: Float[Array, "B N"],
    value_targets: Float[Array, " B"],
    value_scale: float,
    value_weight: float,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """AlphaZero's loss ``CE(pi_target, p) + c (v - z)^2`` (values compared in scaled units).

    Returns ``(loss [], metrics)``; metrics hold the two terms and the policy's entropy.
    """
    out = jax.vmap(net)(obs.reshape(obs.shape[0], -1).astype(jnp.float32))
    logits, value = out[:, :-1], out[:, -1]
    policy_loss = jnp.mean(optax.softmax_cross_entropy(logits, policy_targets))
    value_loss = jnp.mean((value - value_targets / value_scale) ** 2)
    probs = jax.nn.softmax(logits)
    entropy = -jnp.mean(jnp.sum(probs * jax.nn.log_softmax(logits), axis=-1))
    metrics = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
    return policy_loss + value_weight * value_loss, metrics
