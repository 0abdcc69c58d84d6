"""Particle propagation through an ensemble (Chua et al., 2018): trajectory sampling.

:func:`particle_dynamics` turns a fitted ensemble into the planners' ``StepFn`` on a
:class:`Belief` (a set of particles), so any planner can score action sequences by the mean
return of the particles:

    init_belief, step = particle_dynamics(model, params, mode="ts1", num_particles=20,
                                          reward_fn=task.reward, termination_fn=task.termination)
    action, pstate, info = planner.plan(pstate, step, init_belief(obs), key)

With ``bonus_weight`` the step's reward also pays for the elites' disagreement on the next
state (:func:`disagreement`), so a planner seeks where the ensemble has not seen data: the
exploration bonus of PETS' training episodes.

Inside ``step`` the ``S`` particle slots are grouped in ``K`` contiguous blocks, one per elite:
elite ``k`` moves its own block with one matmul per layer, and the planner's ``vmap`` over
candidates merges the candidate axis into those matmul rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.models.ensemble import (
    EnsembleParams,
    MemberPrediction,
    ProbabilisticEnsemble,
    TaskFn,
)

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


def disagreement(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    pred: MemberPrediction,
    alive: Bool[Array, " S"],
) -> Float[Array, ""]:
    """How much predictions of the next state disagree, in nats.

    ``0.5 * sum_d log(1 + Var_s[mu_sd] / E_s[sigma2_sd])`` over the state dims ``d`` of the
    predicted deltas (normalised by the data's spread), across the alive rows ``s``. For the
    members' predictions at one state this is the information a Gaussian observation of the
    next state would give about which member is right (the disagreement bonus of MAX, Shyam et
    al. 2019, and Plan2Explore, Sekar et al. 2020, set against the members' own predicted
    noise). A deterministic ensemble predicts no noise: its spread is set against the data's
    (1 in normalised units). Zero for fewer than 2 alive rows.
    """
    d = model.obs_dim
    std = params.output_norm.std[:d]
    mean = pred.mean[:, :d] / std
    w = alive.astype(mean.dtype)[:, None]
    n = jnp.maximum(jnp.sum(w), 1.0)
    centre = jnp.sum(w * mean, axis=0) / n
    spread = jnp.sum(w * jnp.square(mean - centre), axis=0) / n
    if model.config.probabilistic:
        noise = jnp.sum(w * pred.var[:, :d] / jnp.square(std), axis=0) / n
    else:
        noise = jnp.ones_like(spread)
    gain = 0.5 * jnp.sum(jnp.log1p(spread / jnp.maximum(noise, 1e-8)))
    return jnp.where(jnp.sum(w) >= 2, gain, 0.0)


def particle_dynamics(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    *,
    mode: Mode,
    num_particles: int,
    reward_fn: TaskFn | None = None,
    termination_fn: TaskFn | None = None,
    bonus_weight: Float[Array, ""] | float | None = None,
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
        With ``bonus_weight`` (reward units per nat; may be traced), ``reward`` adds
        ``bonus_weight *`` the :func:`disagreement` of every elite's prediction from the state
        of the first alive particle (one extra row per elite and step). Not the spread of the
        particles themselves: that also grows where the dynamics are chaotic however well they
        are known, and that bonus made PETS spin the cart-pole's pole. 0 in ``"expectation"``
        mode.

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

    # With a bonus every elite also predicts from one reference state: block k of the rows
    # holds elite k's particles, then the reference (row S of [particles; reference]).
    starts = np.cumsum((0,) + counts[:-1])
    rows = np.concatenate([np.r_[s : s + c, slots] for s, c in zip(starts, counts, strict=True)])
    ref_rows = np.cumsum(np.asarray(counts) + 1) - 1
    particle_rows = np.setdiff1d(np.arange(rows.size), ref_rows)

    def move(obs: Float[Array, "S d"], action: Float[Array, " A"], key: PRNGKeyArray, ref=None):
        if mode == "expectation":
            nxt, rew, done = model.expected_step(params, obs[0], action, reward_fn, termination_fn)
            return nxt[None], rew[None], done[None], None
        actions = jnp.broadcast_to(action, (slots, action.shape[-1]))
        if ref is None:
            pred = model.predict_members(elites, obs, actions, counts)
            ref_pred = None
        else:
            both = jnp.concatenate([obs, ref[None]])[rows]
            acts = jnp.broadcast_to(action, (rows.size, action.shape[-1]))
            full = model.predict_members(elites, both, acts, tuple(c + 1 for c in counts))
            pred = jax.tree.map(lambda a: a[particle_rows], full)
            ref_pred = jax.tree.map(lambda a: a[ref_rows], full)
        nxt, rew, done = model.sample_prediction(pred, obs, actions, key, reward_fn, termination_fn)
        return nxt, rew, done, ref_pred

    def step(
        belief: Belief, action: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[Belief, Float[Array, ""], Bool[Array, ""]]:
        action = jnp.reshape(jnp.asarray(action, jnp.float32), (model.action_dim,))
        ref = None if bonus_weight is None else belief.obs[jnp.argmax(belief.alive)]
        if mode == "tsinf":
            key_perm, key = jax.random.split(key)
            perm = jax.random.permutation(key_perm, slots)
            inv = jnp.argsort(perm)
            nxt, rew, done, ref_pred = move(belief.obs[perm], action, key, ref)
            nxt, rew, done = nxt[inv], rew[inv], done[inv]
        else:
            nxt, rew, done, ref_pred = move(belief.obs, action, key, ref)
        alive = belief.alive
        reward = jnp.sum(jnp.where(alive, rew, 0.0)) / slots
        if ref_pred is not None:
            members = jnp.ones(len(counts), bool)
            gain = disagreement(model, params, ref_pred, members)
            reward = reward + bonus_weight * jnp.where(jnp.any(alive), gain, 0.0)
        obs = jnp.where(alive[:, None], nxt, belief.obs)
        alive = alive & ~done
        return Belief(obs=obs, alive=alive), reward, ~jnp.any(alive)

    return init_belief, step
