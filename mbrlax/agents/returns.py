"""Returns of imagined trajectories, shared by the agents that learn in imagination (Dreamer;
TD-MPC's value targets).

``lambda_returns`` is the TD(lambda) target of Sutton & Barto (2018, ch. 12) written backwards
over a trajectory, with a continue flag per step as DreamerV3 writes it; ``ReturnScale`` is
DreamerV3's return normalisation: returns are divided by ``max(1, S)``, ``S`` a running
(exponential moving) average of the range between their 5th and 95th percentiles, so large
returns are scaled down and small ones are not scaled up (sparse rewards keep their signal).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


def lambda_returns(
    rewards: Float[Array, " T"],
    values: Float[Array, " Tp1"],
    continues: Float[Array, " T"],
    discount: float,
    lam: float | Float[Array, " T"],
) -> Float[Array, " T"]:
    """``[T]`` lambda-returns of a trajectory of ``T`` steps.

    ``R_t = r_t + discount c_t ((1 - lam) v_{t+1} + lam R_{t+1})`` with ``R_T = v_T``, where
    ``r_t`` is the reward of step ``t``, ``c_t`` is 0 where step ``t`` ended the episode (else
    1) and ``v_t`` the value of the state step ``t`` starts from (``values`` has one more
    entry: the last state's). ``lam = 0``: one-step TD targets; ``lam = 1``: the discounted
    return bootstrapped from ``v_T``; one ``lam`` per step (``[T]``) mixes them step by step.
    """
    lams = jnp.broadcast_to(jnp.asarray(lam, rewards.dtype), rewards.shape)

    def back(next_return, inputs):
        reward, cont, next_value, lam_t = inputs
        ret = reward + discount * cont * ((1.0 - lam_t) * next_value + lam_t * next_return)
        return ret, ret

    _, returns = jax.lax.scan(
        back, values[-1], (rewards, continues, values[1:], lams), reverse=True
    )
    return returns


def replay_returns(
    rewards: Float[Array, " L"],
    terminated: Bool[Array, " L"],
    is_first: Bool[Array, " L"],
    bootstrap: Float[Array, " L"],
    discount: float,
    lam: float,
) -> tuple[Float[Array, " L"], Bool[Array, " L"]]:
    """``(returns, valid)``: lambda-returns of the states a replayed window of rows reaches
    (DreamerV3's replay critic targets), and where they are defined.

    State ``t`` is the one after row ``t``; row ``t + 1`` leaves it unless it starts an episode
    (``is_first``). ``R_t = r_{t+1} + discount (1 - term_{t+1}) ((1 - l) b_{t+1} + l R_{t+1})``
    with ``l = lam``, or ``0`` where the episode (or the window) ends after row ``t + 1``: there
    the return stops at ``b``, the ``bootstrap`` value of each state (DreamerV3: the imagined
    return from it). ``valid`` is False where no row leaves state ``t`` (the episode ended at
    it, or the window did).
    """
    # cut[n]: state n has no successor in the window (its episode or the window ends there).
    cut = jnp.concatenate([is_first[1:], jnp.ones((1,), bool)])
    # Rows 1.. leave states 0..; the return of the window's last state is its bootstrap.
    returns = lambda_returns(
        rewards[1:], bootstrap, 1.0 - terminated[1:].astype(rewards.dtype), discount,
        jnp.where(cut[1:], 0.0, lam),
    )  # fmt: skip
    return jnp.concatenate([returns, bootstrap[-1:]]), ~cut


class ReturnScale(NamedTuple):
    """The running percentile range ``S`` of :func:`return_scale` (and whether it has seen
    data: the first update takes the batch's range as it is)."""

    spread: Float[Array, ""]
    started: Float[Array, ""]


def return_scale_init() -> ReturnScale:
    return ReturnScale(jnp.zeros(()), jnp.zeros(()))


def return_scale(
    state: ReturnScale,
    returns: Float[Array, "*batch"],
    rate: float = 0.01,
    low: float = 5.0,
    high: float = 95.0,
    limit: float = 1.0,
) -> tuple[Float[Array, ""], ReturnScale]:
    """``(scale, state)``: the divisor ``max(limit, S)`` of this batch's advantages, ``S``
    moved by ``rate`` towards the batch's ``high``-``low`` percentile range (DreamerV3: rate
    0.01, percentiles 5 and 95, limit 1)."""
    spread = jnp.percentile(returns, high) - jnp.percentile(returns, low)
    mixed = jnp.where(state.started > 0, (1.0 - rate) * state.spread + rate * spread, spread)
    new = ReturnScale(jax.lax.stop_gradient(mixed), jnp.ones(()))
    return jnp.maximum(limit, new.spread), new
