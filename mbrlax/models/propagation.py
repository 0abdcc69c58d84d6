"""Particle propagation through an ensemble (Chua et al., 2018): trajectory sampling.

:func:`particle_dynamics` turns a fitted ensemble into the planners' ``StepFn`` on a
:class:`Belief` (a set of particles), so any planner can score action sequences by the mean
return of the particles:

    init_belief, step = particle_dynamics(model, params, mode="ts1", num_particles=20,
                                          reward_fn=task.reward, termination_fn=task.termination)
    action, pstate, info = planner.plan(pstate, step, init_belief(obs), key)

Inside ``step`` the ``S`` particle slots are grouped in ``K`` contiguous blocks, one per elite:
elite ``k`` moves its own block with one matmul per layer, and the planner's ``vmap`` over
candidates merges the candidate axis into those matmul rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.models.ensemble import EnsembleParams, ProbabilisticEnsemble, TaskFn

Mode = Literal["ts1", "tsinf", "expectation"]


class Belief(NamedTuple):
    """A set of particles for one candidate action sequence.

    Attributes:
        obs: ``[S, d]`` particle states (``S = num_particles``, 1 in expectation mode).
        alive: ``[S]`` bool, False once a particle terminated.
    """

    obs: Float[Array, "S d"]
    alive: Bool[Array, " S"]


def elite_counts(num_particles: int, num_elites: int) -> tuple[int, ...]:
    """Particles per elite: ``num_particles`` split as evenly as possible, larger groups first
    (20 over 7 elites: ``(3, 3, 3, 3, 3, 3, 2)``)."""
    base, extra = divmod(num_particles, num_elites)
    return tuple(base + (k < extra) for k in range(num_elites))


def particle_dynamics(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    *,
    mode: Mode,
    num_particles: int,
    reward_fn: TaskFn | None = None,
    termination_fn: TaskFn | None = None,
) -> tuple[
    Callable[[Float[Array, " d"]], Belief],
    Callable[
        [Belief, Float[Array, " A"], PRNGKeyArray],
        tuple[Belief, Float[Array, ""], Bool[Array, ""]],
    ],
]:
    """``(init_belief, step)`` moving particles through the elites of a fitted ensemble.

    Particle slots are grouped by elite in contiguous blocks of sizes
    :func:`elite_counts` (as even as possible; no padding is needed because each elite runs its
    own matmuls, so blocks may differ by one particle).

    Modes:
        ``"ts1"``: slot ``i`` keeps the elite of its block for the whole trajectory (slot
            ``i`` -> elite ``i // (S / K)`` when ``K`` divides ``S``; the particles start at
            one obs, so a fixed assignment is distributed as the paper's random one).
        ``"tsinf"``: every step the slots are randomly permuted before grouping, so each
            particle's elite is re-drawn every step.
        ``"expectation"``: one deterministic trajectory, ``next_obs = obs +`` the elites' mean
            predicted delta; ``S = 1`` whatever ``num_particles`` is.

    Returns:
        ``init_belief(obs [d]) -> Belief`` with every particle at ``obs``, and
        ``step(belief, action [A], key) -> (belief, reward [], terminated [])`` where
        ``reward = sum_i alive_before_i * r_i / num_particles`` (a terminated particle earns
        nothing further and stays where it ended) and ``terminated`` = no particle alive.

    Raises:
        ValueError: an unknown mode, ``num_particles < 1``, or neither a known function nor a
            learned head for the reward or termination.
    """
    if mode not in ("ts1", "tsinf", "expectation"):
        raise ValueError(f"unknown mode {mode!r}; use 'ts1', 'tsinf' or 'expectation'.")
    if num_particles < 1:
        raise ValueError(f"num_particles must be >= 1, got {num_particles}.")
    model.check_task_fns(reward_fn, termination_fn)
    slots = 1 if mode == "expectation" else num_particles
    counts = elite_counts(num_particles, model.config.num_elites)
    # Gather the elites once here, outside the planner's loops.
    elites = model.select_members(params, params.elite_idx)

    def init_belief(obs: Float[Array, " d"]) -> Belief:
        obs = jnp.asarray(obs, jnp.float32)
        return Belief(
            obs=jnp.broadcast_to(obs, (slots, obs.shape[-1])), alive=jnp.ones(slots, bool)
        )

    def move(obs: Float[Array, "S d"], action: Float[Array, " A"], key: PRNGKeyArray):
        if mode == "expectation":
            nxt, rew, done = model.expected_step(params, obs[0], action, reward_fn, termination_fn)
            return nxt[None], rew[None], done[None]
        actions = jnp.broadcast_to(action, (slots, action.shape[-1]))
        return model.sample_members(
            elites, obs, actions, key, reward_fn, termination_fn, counts=counts
        )

    def step(
        belief: Belief, action: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[Belief, Float[Array, ""], Bool[Array, ""]]:
        action = jnp.reshape(jnp.asarray(action, jnp.float32), (model.action_dim,))
        if mode == "tsinf":
            key_perm, key = jax.random.split(key)
            perm = jax.random.permutation(key_perm, slots)
            inv = jnp.argsort(perm)
            nxt, rew, done = move(belief.obs[perm], action, key)
            nxt, rew, done = nxt[inv], rew[inv], done[inv]
        else:
            nxt, rew, done = move(belief.obs, action, key)
        alive = belief.alive
        reward = jnp.sum(jnp.where(alive, rew, 0.0)) / slots
        obs = jnp.where(alive[:, None], nxt, belief.obs)
        alive = alive & ~done
        return Belief(obs=obs, alive=alive), reward, ~jnp.any(alive)

    return init_belief, step
