"""Sequences of consecutive transitions from the replay buffer: windows are consecutive rows,
episode starts (resets and time-limit truncations alike) and the seam of a wrapped ring are
marked exactly, and bad requests say what to do."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.data.sequences import episode_starts, sample_sequences


def counter_buffer(lengths, capacity):
    """Episodes of the given lengths whose obs is (episode, step): row t of an episode has
    next_obs = obs of row t + 1; a new episode starts from a fresh reset."""
    example = Transition(
        jnp.zeros(2), jnp.zeros(1), jnp.zeros(()), jnp.zeros(2), jnp.zeros((), bool)
    )
    buffer = ReplayBuffer.create(example, capacity)
    for e, n in enumerate(lengths):
        for t in range(n):
            obs, nxt = jnp.array([e, t], jnp.float32), jnp.array([e, t + 1], jnp.float32)
            buffer = buffer.add(
                Transition(obs, jnp.zeros(1), jnp.float32(t), nxt, jnp.array(False))
            )
    return buffer


def test_episode_starts_are_the_resets():
    buffer = counter_buffer([3, 4, 2], capacity=20)
    starts = np.asarray(episode_starts(buffer))
    assert np.flatnonzero(starts).tolist() == [0, 3, 7]  # unfilled rows are not starts


def test_windows_are_consecutive_steps_with_their_episode_starts():
    buffer = counter_buffer([5, 7, 6], capacity=64)
    seqs = jax.jit(sample_sequences, static_argnums=(2, 3))(buffer, jax.random.key(0), 256, 4)
    obs, nxt = np.asarray(seqs.data.obs), np.asarray(seqs.data.next_obs)
    first = np.asarray(seqs.is_first)
    assert obs.shape == (256, 4, 2) and first.shape == (256, 4) and first[:, 0].all()
    continuing = ~first[:, 1:]
    np.testing.assert_array_equal(obs[:, 1:][continuing], nxt[:, :-1][continuing])
    assert np.all(obs[:, 1:, 1][first[:, 1:]] == 0)  # a marked row is a reset (step 0)
    assert np.all(obs[:, 1:, 1][continuing] > 0)
    starts = np.asarray(obs[:, 0, 1])
    assert set(starts.tolist()) == set(range(7))  # every window start is drawn


def test_the_seam_of_a_wrapped_buffer_is_an_episode_start():
    # Rows 0-9: episode 0, rows 10-15: episode 1's steps 0-5, then its steps 6-9 overwrite
    # rows 0-3: row 4 (episode 0's oldest kept step) follows row 3 (episode 1's last).
    buffer = counter_buffer([10, 10], capacity=16)
    starts = np.asarray(episode_starts(buffer))
    assert int(buffer.ptr) == 4
    assert np.flatnonzero(starts).tolist() == [4, 10]  # row 0 continues row 15


def test_bad_requests_say_what_to_do():
    buffer = counter_buffer([3], capacity=8)
    with pytest.raises(ValueError, match="holds 3 rows, fewer than one sequence of 5"):
        sample_sequences(buffer, jax.random.key(0), 2, 5)
    with pytest.raises(ValueError, match="longer than the buffer"):
        sample_sequences(buffer, jax.random.key(0), 2, 9)
    with pytest.raises(TypeError, match="Transition rows"):
        sample_sequences(ReplayBuffer.create({"x": jnp.zeros(1)}, 8), jax.random.key(0), 2, 2)
