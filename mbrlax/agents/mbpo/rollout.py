"""MBPO's branched rollouts (Janner et al., 2019): short model rollouts from real states.

``branched_rollout`` starts ``N`` particles at states drawn from the real replay buffer and
moves them ``length`` steps under the policy through the elites of a fitted ensemble. Each
step every particle is moved by one elite (``"tsinf"``: the elite re-drawn every step, MBPO's
rule; ``"ts1"``: one elite per particle for the whole rollout), so its next state, reward and
termination all come from the same member. A particle that terminates stops where it ended: its
later steps are marked invalid and never reach the model buffer.

:class:`RolloutSchedule` is the paper's rollout length ``k`` as a function of the epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.models.ensemble import EnsembleParams, ProbabilisticEnsemble, TaskFn
from mbrlax.models.propagation import elite_counts

Policy = Callable[[Float[Array, "N d"], PRNGKeyArray], Float[Array, "N A"]]
"""A batched policy: ``(obs [N, d], key) -> action [N, A]`` in the env's bounds."""


@dataclasses.dataclass(frozen=True)
class RolloutSchedule:
    """The rollout length ``k`` over training epochs: ``min_length`` up to ``min_epoch``, then
    linear up to ``max_length`` at ``max_epoch``, then constant; rounded down (the paper's
    ``[a, b, x, y]``, e.g. Hopper's ``[20, 100, 1, 15]``).

    Attributes:
        min_epoch: last epoch at ``min_length``.
        max_epoch: first epoch at ``max_length``.
        min_length: rollout length at the start, ``>= 1``.
        max_length: rollout length at the end, ``>= min_length``.
    """

    min_epoch: int = 20
    max_epoch: int = 100
    min_length: int = 1
    max_length: int = 15

    def __post_init__(self):
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(
                f"rollout lengths need 1 <= min_length <= max_length, got {self.min_length} and "
                f"{self.max_length}."
            )
        if self.max_epoch <= self.min_epoch and self.max_length != self.min_length:
            raise ValueError(
                f"max_epoch ({self.max_epoch}) must be after min_epoch ({self.min_epoch}) when "
                "the length changes."
            )

    def length(self, epoch: int) -> int:
        """The rollout length at ``epoch`` (epochs count from 0)."""
        if epoch <= self.min_epoch:
            return self.min_length
        frac = min((epoch - self.min_epoch) / (self.max_epoch - self.min_epoch), 1.0)
        return int(self.min_length + frac * (self.max_length - self.min_length))


class Rollout(NamedTuple):
    """Transitions of a branched rollout, step-major.

    Attributes:
        transitions: a :class:`Transition` whose leaves are ``[L, N, ...]`` (step, particle).
        valid: ``[L, N]`` bool, True where the particle was still alive when it took the step.
    """

    transitions: Transition
    valid: Bool[Array, "L N"]


class _Carry(NamedTuple):
    obs: Float[Array, "N d"]
    alive: Bool[Array, " N"]


def branched_rollout(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    policy: Policy,
    start_obs: Float[Array, "N d"],
    key: PRNGKeyArray,
    length: int,
    mode: Literal["ts1", "tsinf"] = "tsinf",
    reward_fn: TaskFn | None = None,
    termination_fn: TaskFn | None = None,
) -> Rollout:
    """``length`` model steps of ``N`` particles from ``start_obs`` under ``policy``.

    Jittable with ``model``, ``policy``, ``length``, ``mode`` and the task functions static.
    Rows are grouped by elite in contiguous blocks (:func:`~mbrlax.models.elite_counts`), one
    matmul per layer and elite; ``"tsinf"`` permutes the particles before grouping, every step.
    """
    if mode not in ("ts1", "tsinf"):
        raise ValueError(f"unknown mode {mode!r}; use 'ts1' or 'tsinf'.")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}.")
    n = start_obs.shape[0]
    elites = model.select_members(params, params.elite_idx)
    counts = elite_counts(n, model.config.num_elites)

    def move(obs, action, key):
        return model.sample_members(
            elites, obs, action, key, reward_fn, termination_fn, counts=counts
        )

    def step(carry: _Carry, key: PRNGKeyArray) -> tuple[_Carry, tuple[Transition, Array]]:
        k_policy, k_perm, k_model = jax.random.split(key, 3)
        action = policy(carry.obs, k_policy)
        if mode == "tsinf":
            perm = jax.random.permutation(k_perm, n)
            inv = jnp.argsort(perm)
            nxt, rew, done = move(carry.obs[perm], action[perm], k_model)
            nxt, rew, done = nxt[inv], rew[inv], done[inv]
        else:
            nxt, rew, done = move(carry.obs, action, k_model)
        t = Transition(carry.obs, action, rew, nxt, done)
        # A particle that has stopped stays where it terminated (its later steps are invalid).
        obs = jnp.where(carry.alive[:, None], nxt, carry.obs)
        return _Carry(obs, carry.alive & ~done), (t, carry.alive)

    start = _Carry(jnp.asarray(start_obs, jnp.float32), jnp.ones(n, bool))
    _, (transitions, valid) = jax.lax.scan(step, start, jax.random.split(key, length))
    return Rollout(transitions, valid)
