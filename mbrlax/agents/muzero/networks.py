"""MuZero's three functions (Schrittwieser et al., 2020), as small MLPs on vector observations.

- representation ``h(o) -> s``: an observation to a latent state;
- dynamics ``g(s, a) -> (s', r)``: the next latent state and the reward of the step;
- prediction ``f(s) -> (p, v)``: the prior's logits and the value.

Latent states are min-max normalised to ``[0, 1]`` after ``h`` and after ``g`` (the paper's
Appendix G), which keeps the unrolled model's inputs on one scale however deep the search.
Values and rewards are predicted divided by ``value_scale`` and ``reward_scale``, so the
regression targets are of order one. The model is value-equivalent: nothing asks it to
reconstruct an observation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mbrlax.agents.sac.networks import MLP, init_mlp


class MuZeroNets(NamedTuple):
    """The parameters of ``h``, ``g`` and ``f`` (pytrees of arrays only).

    Attributes:
        representation: ``[obs_dim] -> [latent_dim]``.
        dynamics: ``[latent_dim + N] -> [latent_dim + 1]`` (next latent, scaled reward).
        prediction: ``[latent_dim] -> [N + 1]`` (logits, scaled value).
    """

    representation: MLP
    dynamics: MLP
    prediction: MLP


def init_muzero_nets(
    key: PRNGKeyArray, obs_dim: int, num_actions: int, latent_dim: int, hidden: tuple[int, ...]
) -> MuZeroNets:
    """Fresh networks (PyTorch's default initialisation, as every mbrlax MLP)."""
    k_h, k_g, k_f = jax.random.split(key, 3)
    return MuZeroNets(
        representation=init_mlp(k_h, (obs_dim, *hidden, latent_dim)),
        dynamics=init_mlp(k_g, (latent_dim + num_actions, *hidden, latent_dim + 1)),
        prediction=init_mlp(k_f, (latent_dim, *hidden, num_actions + 1)),
    )


def _min_max(x: Float[Array, " L"]) -> Float[Array, " L"]:
    low, high = jnp.min(x), jnp.max(x)
    return (x - low) / jnp.maximum(high - low, 1e-5)


def represent(nets: MuZeroNets, obs: Float[Array, " d"]) -> Float[Array, " L"]:
    """``h(o)``: the latent state ``[L]`` of one observation."""
    return _min_max(nets.representation(jnp.asarray(obs, jnp.float32).reshape(-1)))


def dynamics(
    nets: MuZeroNets,
    latent: Float[Array, " L"],
    action: Int[Array, ""],
    num_actions: int,
    reward_scale: float,
) -> tuple[Float[Array, " L"], Float[Array, ""]]:
    """``g(s, a)``: ``(next latent [L], reward [])``, the reward in the env's units."""
    x = jnp.concatenate([latent, jax.nn.one_hot(action, num_actions, dtype=latent.dtype)])
    out = nets.dynamics(x)
    return _min_max(out[:-1]), out[-1] * reward_scale


def predict(
    nets: MuZeroNets, latent: Float[Array, " L"], value_scale: float
) -> tuple[Float[Array, " N"], Float[Array, ""]]:
    """``f(s)``: ``(prior logits [N], value [])``, the value in return units."""
    out = nets.prediction(latent)
    return out[:-1], out[-1] * value_scale


def scale_gradient(x: Array, scale: float) -> Array:
    """``x`` forward; its gradient times ``scale`` backward (the paper halves the gradient
    entering each unrolled dynamics step, so a deep unroll does not dominate ``h``)."""
    return x * scale + jax.lax.stop_gradient(x * (1.0 - scale))
