"""TD-MPC2's latent model (Hansen, Su & Wang 2024): value-equivalent, never reconstructing.

An encoder maps an observation to a latent ``z`` (SimNorm: softmax over groups of 8, so every
latent lies on a product of simplices), a dynamics network predicts the next latent from ``z``
and an action, a reward head the reward of that step (symlog two-hot logits), and a
termination head (a logit) whether the step ended the episode. The model is trained by its
agent (:mod:`mbrlax.agents.tdmpc2`) to be consistent with the encoder along replayed
sequences and to predict rewards and values; it exposes the planners' ``step`` over the latent
state and ``encode`` to enter it, like every latent model.

Every network is an MLP of :class:`mbrlax.models.layers.Dense` layers (Linear, LayerNorm, Mish),
initialised as TD-MPC2's (truncated normal, std 0.02; the reward head's output at zero).
Actions are in ``[-1, 1]`` (the agent rescales the env's bounds).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.models.distributions import twohot_bins, twohot_mean
from mbrlax.models.layers import Dense, apply_mlp, dense, mlp, simnorm

INIT_STD = 0.02
"""TD-MPC2's weight initialisation: a normal of this std, truncated at two."""


def simnorm_mlp(
    key: PRNGKeyArray, n_in: int, units: int, layers: int, n_out: int
) -> tuple[Dense, ...]:
    """``layers`` hidden Mish layers of ``units``, then a Linear + LayerNorm layer of
    ``n_out`` whose output :func:`mbrlax.models.layers.simnorm` normalises (TD-MPC2's encoder
    and dynamics)."""
    keys = jax.random.split(key, layers + 1)
    sizes = [n_in] + [units] * layers
    hidden = [
        dense(k, a, b, True, activation="mish", init_std=INIT_STD)
        for k, a, b in zip(keys[:-1], sizes[:-1], sizes[1:], strict=True)
    ]
    last = dense(keys[-1], sizes[-1], n_out, True, activation="none", init_std=INIT_STD)
    return (*hidden, last)


def head(key: PRNGKeyArray, n_in: int, units: int, n_out: int, zero: bool = False):
    """Two hidden Mish layers of ``units`` and a linear output of ``n_out`` (its weights at
    zero with ``zero``: a two-hot head then predicts 0 at first)."""
    return mlp(
        key, n_in, units, 2, n_out, out_scale=0.0 if zero else 1.0, activation="mish",
        init_std=INIT_STD,
    )  # fmt: skip


class LatentNets(NamedTuple):
    """The model's networks (arrays only: they checkpoint as they are)."""

    encoder: tuple[Dense, ...]
    dynamics: tuple[Dense, ...]
    reward: tuple[Dense, ...]
    termination: tuple[Dense, ...]


@dataclasses.dataclass(frozen=True)
class LatentModel:
    """TD-MPC2's encoder, latent dynamics, reward and termination heads for ``obs_dim``
    observations and ``action_dim`` actions in ``[-1, 1]``. Static and hashable.

    Attributes:
        obs_dim: the observation's size.
        action_dim: the action's size.
        latent_dim: the latent's size (a multiple of ``simnorm_dim``).
        mlp_dim: width of the dynamics, reward and termination networks.
        enc_dim: width of the encoder's hidden layers.
        enc_layers: the encoder's layers (its hidden ones: ``max(enc_layers - 1, 1)``).
        simnorm_dim: the SimNorm group size (TD-MPC2: 8).
        num_bins: two-hot bins of the reward (TD-MPC2: 101 over ``[vmin, vmax]``).
        vmin: the lowest bin, in symlog space (TD-MPC2: -10).
        vmax: the highest (TD-MPC2: 10).
    """

    obs_dim: int
    action_dim: int
    latent_dim: int = 512
    mlp_dim: int = 512
    enc_dim: int = 256
    enc_layers: int = 2
    simnorm_dim: int = 8
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0

    def __post_init__(self) -> None:
        if self.latent_dim % self.simnorm_dim:
            raise ValueError(
                f"latent_dim ({self.latent_dim}) must be a multiple of simnorm_dim "
                f"({self.simnorm_dim}): SimNorm takes a softmax over groups of that many."
            )

    @property
    def bins(self) -> Float[Array, " K"]:
        return twohot_bins(self.num_bins, self.vmin, self.vmax)

    def init(self, key: PRNGKeyArray) -> LatentNets:
        k_enc, k_dyn, k_rew, k_term = jax.random.split(key, 4)
        za = self.latent_dim + self.action_dim
        return LatentNets(
            encoder=simnorm_mlp(
                k_enc, self.obs_dim, self.enc_dim, max(self.enc_layers - 1, 1), self.latent_dim
            ),
            dynamics=simnorm_mlp(k_dyn, za, self.mlp_dim, 2, self.latent_dim),
            reward=head(k_rew, za, self.mlp_dim, self.num_bins, zero=True),
            termination=head(k_term, self.latent_dim, self.mlp_dim, 1),
        )

    def encode(self, nets: LatentNets, obs: Float[Array, " d"]) -> Float[Array, " Z"]:
        """``[Z]`` the latent of an observation."""
        return simnorm(apply_mlp(nets.encoder, obs), self.simnorm_dim)

    def next(
        self, nets: LatentNets, z: Float[Array, " Z"], action: Float[Array, " A"]
    ) -> Float[Array, " Z"]:
        """``[Z]`` the predicted next latent."""
        return simnorm(apply_mlp(nets.dynamics, jnp.concatenate([z, action])), self.simnorm_dim)

    def reward_logits(
        self, nets: LatentNets, z: Float[Array, " Z"], action: Float[Array, " A"]
    ) -> Float[Array, " K"]:
        """``[K]`` the two-hot logits of the step's reward."""
        return apply_mlp(nets.reward, jnp.concatenate([z, action]))

    def termination_logit(self, nets: LatentNets, next_z: Float[Array, " Z"]) -> Float[Array, ""]:
        """``[]`` the logit that the step arriving in ``next_z`` ended the episode."""
        return apply_mlp(nets.termination, next_z)[0]

    def step(
        self,
        nets: LatentNets,
        z: Float[Array, " Z"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
    ) -> tuple[Float[Array, " Z"], Float[Array, ""], Bool[Array, ""]]:
        """The planners' transition function over the latent state: ``(next_z, reward,
        terminated)``, deterministic (``key`` unused; close over ``nets`` to give it to a
        planner)."""
        del key
        next_z = self.next(nets, z, action)
        reward = twohot_mean(self.reward_logits(nets, z, action), self.bins)
        return next_z, reward, self.termination_logit(nets, next_z) > 0.0
