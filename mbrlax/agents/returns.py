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
    lam: float,
) -> Float[Array, " T"]:
    """``[T]`` lambda-returns of a trajectory of ``T`` steps.

    ``R_t = r_t + discount c_t ((1 - lam) v_{t+1} + lam R_{t+1})`` with ``R_T = v_T``, where
    ``r_t`` is the reward of step ``t``, ``c_t`` is 0 where step ``t`` ended the episode (else
    1) and ``v_t`` the value of the state step ``t`` starts from (``values`` has one more
    entry: the last state's). ``lam = 0``: one-step TD targets; ``lam = 1``: the discounted
    return bootstrapped from ``v_T``.
    """

    def back(next_return, inputs):
        reward, cont, next_value = inputs
        ret = reward + discount * cont * ((1.0 - lam) * next_value + lam * next_return)
        return ret, ret

    _, returns = jax.lax.scan(back, values[-1], (rewards, continues, values[1:]), reverse=True)
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
    length = rewards.shape[0]
    nxt = lambda x, fill: jnp.concatenate([x[1:], jnp.full((1,), fill, x.dtype)])  # noqa: E731
    # cut[n]: state n has no successor in the window (its episode or the window ends there).
    cut = nxt(is_first, True)
    lams = jnp.where(cut, 0.0, lam)
    live = discount * (1.0 - terminated.astype(jnp.float32))

    def back(later, n):  # later = R_n; returns R_{n-1}
        ret = rewards[n] + live[n] * ((1.0 - lams[n]) * bootstrap[n] + lams[n] * later)
        return ret, ret

    _, returns = jax.lax.scan(back, bootstrap[-1], jnp.arange(1, length), reverse=True)
    returns = jnp.concatenate([returns, bootstrap[-1:]])
    return returns, ~cut


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
