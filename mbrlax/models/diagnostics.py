"""How far a learned model can be trusted: open-loop predictions along real trajectories.

A model that is accurate one step ahead can still drift over many (compounding error, the
reason MBPO keeps its rollouts short). Given a real trajectory ``obs [T+1, d]``,
``actions [T, A]``, these functions start particles at a real state and move them through the
ensemble along the *real* actions, never correcting them with the real states:

    pred = open_loop(model, params, obs, actions, start=100, horizon=350, key=key)
    pred.mean, pred.std      # [H+1, d] particle mean and spread, pred.truth the real states
    err = multistep_error(model, params, obs, actions, horizon=50, key=key)   # [50]

:func:`mbrlax.analysis.model_plots.plot_model_diagnostics` draws both. For a latent world model
(PlaNet's and Dreamer's RSSM), :func:`latent_open_loop` filters the latent state over a few
real observations, then imagines along the real actions, decoding observations (frames) and
predicting rewards; :func:`mbrlax.analysis.model_plots.plot_latent_open_loop` draws it.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.models.ensemble import EnsembleParams, ProbabilisticEnsemble
from mbrlax.models.propagation import particle_dynamics


class OpenLoop(NamedTuple):
    """An open-loop prediction against the truth, step 0 being the (shared) start state.

    Attributes:
        mean: ``[H+1, d]`` particle mean.
        std: ``[H+1, d]`` particle standard deviation (model and sampling uncertainty).
        truth: ``[H+1, d]`` the real states.
    """

    mean: Float[Array, "H1 d"]
    std: Float[Array, "H1 d"]
    truth: Float[Array, "H1 d"]


def _zero(obs, action, next_obs):
    return jnp.float32(0.0)


def _never(obs, action, next_obs):
    return jnp.array(False)


def _particles(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    start_obs: Float[Array, " d"],
    actions: Float[Array, "H A"],
    key: PRNGKeyArray,
    num_particles: int,
    mode: Literal["ts1", "tsinf"],
) -> Float[Array, "H1 S d"]:
    """Particle states ``[H+1, S, d]`` along ``actions`` (rewards and termination ignored)."""
    init_belief, step = particle_dynamics(
        model, params, mode=mode, num_particles=num_particles, reward_fn=_zero,
        termination_fn=_never,
    )  # fmt: skip

    def one(belief, inputs):
        action, key = inputs
        belief, _, _ = step(belief, action, key)
        return belief, belief.obs

    belief = init_belief(start_obs)
    keys = jax.random.split(key, actions.shape[0])
    _, states = jax.lax.scan(one, belief, (actions, keys))
    return jnp.concatenate([belief.obs[None], states])


def open_loop(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    obs: Float[Array, "T1 d"],
    actions: Float[Array, "T A"],
    start: int,
    horizon: int,
    key: PRNGKeyArray,
    num_particles: int = 20,
    mode: Literal["ts1", "tsinf"] = "ts1",
) -> OpenLoop:
    """Particles from ``obs[start]`` along ``actions[start : start + horizon]``; jittable with
    the ints static. Raises ``ValueError`` if the trajectory is shorter than that."""
    _check_window(obs, actions, start, horizon)
    particles = _particles(
        model, params, obs[start], actions[start : start + horizon], key, num_particles, mode
    )
    truth = obs[start : start + horizon + 1]
    return OpenLoop(particles.mean(axis=1), particles.std(axis=1), truth)


def multistep_error(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    obs: Float[Array, "T1 d"],
    actions: Float[Array, "T A"],
    horizon: int,
    key: PRNGKeyArray,
    num_particles: int = 20,
    num_starts: int = 16,
    mode: Literal["ts1", "tsinf"] = "ts1",
    scale: Float[Array, " d"] | None = None,
) -> Float[Array, " H"]:
    """Mean squared error of the particle mean ``h`` steps ahead, ``h = 1 .. horizon``.

    Averaged over ``num_starts`` start states spread evenly along the trajectory and over the
    state dimensions, each dimension divided by ``scale`` (default: its standard deviation
    along the trajectory, so 1.0 is as far off as a typical state is from the mean state; for
    a trajectory that barely moves, pass the model's training-data spread,
    ``params.input_norm.std[:d]``). Returns ``[horizon]``.
    """
    _check_window(obs, actions, 0, horizon)
    last = obs.shape[0] - 1 - horizon
    starts = np.unique(np.linspace(0, last, num_starts).round().astype(int))
    scale = jnp.maximum(obs.std(axis=0) if scale is None else jnp.asarray(scale), 1e-6)

    def one(start, key):
        window = jax.lax.dynamic_slice_in_dim(actions, start, horizon)
        truth = jax.lax.dynamic_slice_in_dim(obs, start, horizon + 1)
        particles = _particles(model, params, obs[start], window, key, num_particles, mode)
        return jnp.mean(((particles.mean(axis=1) - truth) / scale) ** 2, axis=-1)[1:]

    keys = jax.random.split(key, len(starts))
    return jax.vmap(one)(jnp.asarray(starts), keys).mean(axis=0)


def _check_window(obs: Array, actions: Array, start: int, horizon: int) -> None:
    if obs.shape[0] != actions.shape[0] + 1:
        raise ValueError(
            f"a trajectory has one more observation than actions, got {obs.shape[0]} "
            f"observations and {actions.shape[0]} actions."
        )
    if horizon < 1 or start < 0 or start + horizon > actions.shape[0]:
        raise ValueError(
            f"the window [start={start}, start + horizon={start + horizon}) must lie inside the "
            f"trajectory's {actions.shape[0]} steps; choose a smaller start or horizon (or a "
            "longer episode)."
        )


class LatentOpenLoop(NamedTuple):
    """A latent world model's open-loop prediction against the truth, all from step
    ``start + context`` on: the observations (``[H, ...]``: vectors, or frames in ``[0, 255]``)
    and the rewards (``[H]``) of the ``horizon`` steps the model imagined from the latent state it
    filtered over the ``context`` observations before."""

    truth: Array
    predicted: Array
    true_rewards: Float[Array, " H"]
    predicted_rewards: Float[Array, " H"]


def latent_open_loop(
    model: Any,
    nets: Any,
    obs: Array,
    actions: Float[Array, "T A"],
    rewards: Float[Array, " T"],
    start: int,
    context: int,
    horizon: int,
    key: PRNGKeyArray,
) -> LatentOpenLoop:
    """Filter an :class:`mbrlax.models.rssm.RSSM`'s latent state over ``obs[start : start +
    context + 1]`` (the real observations and the actions between them), then imagine
    ``horizon`` steps through its prior along the episode's next real actions, decoding each
    state and predicting its reward: PlaNet's and Dreamer's open-loop video prediction.
    ``obs`` is ``[T+1, ...]``, ``actions`` and ``rewards`` ``[T]``."""
    _check_window(obs, actions, start, context + horizon)
    k_first, k_filter, k_imagine = jax.random.split(key, 3)
    state = model.first_state(nets, obs[start], k_first)

    def observe(s, inputs):
        action, o, k = inputs
        return model.observe_step(nets, s, action, o, k)[0], None

    seen = (
        actions[start : start + context],
        obs[start + 1 : start + context + 1],
        jax.random.split(k_filter, context),
    )
    state, _ = jax.lax.scan(observe, state, seen)

    def imagine(s, inputs):
        action, k = inputs
        nxt, reward, _ = model.step(nets, s, action, k)
        return nxt, (model.decode(nets, nxt), reward)

    first = start + context
    _, (predicted, predicted_rewards) = jax.lax.scan(
        imagine, state, (actions[first : first + horizon], jax.random.split(k_imagine, horizon))
    )
    truth = obs[first + 1 : first + horizon + 1].astype(jnp.float32)
    return LatentOpenLoop(truth, predicted, rewards[first : first + horizon], predicted_rewards)
