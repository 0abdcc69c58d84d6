"""Sequences of consecutive transitions from a replay buffer, for models trained through time
(recurrent world models: PlaNet, Dreamer; TD-MPC's multi-step latent consistency).

The runner writes one row per env step, episode after episode, so consecutive rows are
consecutive steps except where an episode starts: there the row's ``obs`` is a fresh reset,
not the previous row's ``next_obs``. That test marks the starts exactly (time-limit
truncations included, which ``terminated`` does not record), and it also marks the seam of a
ring buffer that has wrapped (the newest row followed by the oldest). A sampled window may span
several episodes; ``is_first`` says where each starts, and a recurrent model resets its state
there.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer, Transition


class Sequences(NamedTuple):
    """A batch of windows of consecutive rows.

    Attributes:
        data: the buffer's rows, every leaf with leading axes ``[B, L]``.
        is_first: ``[B, L]`` True where a window's row starts an episode (and at every
            window's first row, where the model has no state yet).
    """

    data: Transition
    is_first: Bool[Array, "B L"]


def episode_starts(buffer: ReplayBuffer) -> Bool[Array, " C"]:
    """``[C]`` True where a filled row starts an episode (its ``obs`` is not the previous
    row's ``next_obs``; row 0's previous row is the last one once the ring is full, and none
    before); False for unfilled rows."""
    obs, next_obs = buffer.data.obs, buffer.data.next_obs
    previous = jnp.roll(next_obs, 1, axis=0)
    same = jnp.all((obs == previous).reshape(obs.shape[0], -1), axis=-1)
    starts = (~same).at[0].set(~same[0] | (buffer.size < buffer.capacity))
    return starts & (jnp.arange(obs.shape[0]) < buffer.size)


def sample_sequences(
    buffer: ReplayBuffer, key: PRNGKeyArray, batch_size: int, length: int
) -> Sequences:
    """``batch_size`` windows of ``length`` consecutive rows, each starting at a row drawn
    uniformly from the filled rows that leave room for a whole window; jittable.

    The buffer must hold ``Transition`` rows and at least ``length`` of them (checked when
    ``size`` is concrete).
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}.")
    if not isinstance(buffer.data, Transition):
        raise TypeError(
            f"sample_sequences needs a buffer of Transition rows, got {type(buffer.data).__name__}."
        )
    if length > buffer.capacity:
        raise ValueError(f"length {length} is longer than the buffer ({buffer.capacity} rows).")
    if not isinstance(buffer.size, jax.core.Tracer) and int(buffer.size) < length:
        raise ValueError(
            f"the buffer holds {int(buffer.size)} rows, fewer than one sequence of {length}; "
            "collect more steps before training on sequences."
        )
    starts = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size - length + 1, 1))
    rows = starts[:, None] + jnp.arange(length)  # [B, L]: windows never wrap the array's end
    firsts = episode_starts(buffer)[rows].at[:, 0].set(True)
    return Sequences(jax.tree.map(lambda d: d[rows], buffer.data), firsts)
