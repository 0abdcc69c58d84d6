"""ReplayBuffer: ring semantics, sampling, epochs, in-place host adds, atomic checked files."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.data import buffer as buffer_module
from mbrlax.data.buffer import ReplayBuffer, Transition, add_batch_step, add_step


def _item(i: float, d: int = 3) -> Transition:
    """A transition whose every entry encodes ``i`` (so rows can be identified)."""
    return Transition(
        obs=jnp.full((d,), i, jnp.float32),
        action=jnp.full((1,), -i, jnp.float32),
        reward=jnp.asarray(i, jnp.float32),
        next_obs=jnp.full((d,), i + 0.5, jnp.float32),
        terminated=jnp.asarray(int(i) % 2 == 1),
    )


def _items(values, d: int = 3) -> Transition:
    return jax.tree.map(lambda *x: jnp.stack(x), *[_item(float(v), d) for v in values])


def _empty(capacity: int) -> ReplayBuffer:
    return ReplayBuffer.create(_item(0.0), capacity)


def test_create_is_empty_with_capacity_rows():
    buf = _empty(7)
    assert buf.capacity == 7 and int(buf.size) == 0 and int(buf.ptr) == 0
    assert buf.data.obs.shape == (7, 3) and buf.data.terminated.dtype == jnp.bool_
    assert buf.size.dtype == jnp.int32


def test_ring_overwrites_oldest_rows_inside_scan():
    def body(buf, i):
        return buf.add(_item_traced(i)), None

    buf, _ = jax.jit(lambda b: jax.lax.scan(body, b, jnp.arange(1.0, 8.0)))(_empty(5))
    # 7 adds into 5 rows: items 6, 7 overwrote rows 0, 1.
    np.testing.assert_array_equal(buf.data.reward, [6, 7, 3, 4, 5])
    np.testing.assert_array_equal(buf.data.terminated, [False, True, True, False, True])
    assert int(buf.size) == 5 and int(buf.ptr) == 2


def _item_traced(i):
    return Transition(
        obs=jnp.full((3,), i), action=-i[None], reward=i, next_obs=jnp.full((3,), i + 0.5),
        terminated=(i.astype(jnp.int32) % 2) == 1,
    )  # fmt: skip


@pytest.mark.parametrize("start, n", [(0, 3), (2, 4), (1, 11)])
def test_add_batch_matches_sequential_adds(start, n):
    buf = _empty(5)
    for v in range(start):
        buf = buf.add(_item(100.0 + v))
    seq = buf
    values = np.arange(1, n + 1)
    for v in values:
        seq = seq.add(_item(float(v)))
    batched = buf.add_batch(_items(values))
    for a, b in zip(jax.tree.leaves(seq), jax.tree.leaves(batched), strict=True):
        np.testing.assert_array_equal(a, b)


def test_add_step_is_in_place_and_compiles_once(monkeypatch):
    traces = []
    original = ReplayBuffer._add
    monkeypatch.setattr(
        ReplayBuffer, "_add", lambda self, item: traces.append(1) or original(self, item)
    )
    buf = ReplayBuffer.create(_item(0.0, d=13), 4)  # a shape no other test uses: fresh cache
    for i in range(6):
        # Python scalars as a Gymnasium loop would pass them: traced, never static.
        item = Transition(
            np.full(13, i, np.float64), np.array([-i]), float(i), np.full(13, i), i % 2 == 1
        )
        buf = add_step(buf, item)
    assert len(traces) == 1
    np.testing.assert_array_equal(buf.data.reward, [4, 5, 2, 3])
    assert int(buf.size) == 4 and int(buf.ptr) == 2
    buf = add_batch_step(buf, _items([7, 8, 9], d=13))
    # ptr was 2: items 7, 8, 9 land in rows 2, 3, 0.
    np.testing.assert_array_equal(buf.data.reward, [9, 5, 7, 8])
    assert int(buf.size) == 4 and int(buf.ptr) == 1


def test_add_rejects_wrong_shapes_with_a_clear_message():
    buf = _empty(4)
    bad = _item(1.0)._replace(obs=jnp.zeros(4))
    with pytest.raises(ValueError, match=r"\.obs.*\[3\].*\[4\]"):
        buf.add(bad)
    with pytest.raises(ValueError, match="tree structure"):
        buf.add({"obs": jnp.zeros(3)})


def test_sample_is_uniform_over_the_filled_rows_only():
    buf = _empty(100).add_batch(_items(range(1, 11)))
    batch = jax.jit(lambda b, k: b.sample(k, 5000))(buf, jax.random.key(0))
    counts = np.bincount(np.asarray(batch.reward, np.int64), minlength=11)
    assert counts[0] == 0  # the empty rows (reward 0) are never drawn
    assert np.all((counts[1:] > 400) & (counts[1:] < 600)), counts
    np.testing.assert_array_equal(batch.obs[:, 0], batch.reward)  # rows stay whole


@pytest.mark.parametrize(
    ("capacity", "n", "window", "expected"),
    [
        (100, 10, 4, range(7, 11)),  # not wrapped: the last 4 written
        (100, 10, 50, range(1, 11)),  # a window past the filled rows: all of them
        (8, 13, 5, range(9, 14)),  # wrapped: rows 9..13 sit at both ends of the ring
        (8, 13, 8, range(6, 14)),
    ],
)
def test_sample_recent_draws_uniformly_from_the_newest_rows(capacity, n, window, expected):
    buf = _empty(capacity).add_batch(_items(range(1, n + 1)))
    draw = jax.jit(lambda b, k, w: b.sample_recent(k, 4000, w))
    batch = draw(buf, jax.random.key(0), jnp.int32(window))
    counts = np.bincount(np.asarray(batch.reward, np.int64), minlength=n + 1)
    drawn = set(np.flatnonzero(counts).tolist())
    assert drawn == set(expected)
    share = counts[list(expected)] / 4000
    np.testing.assert_allclose(share, 1 / len(expected), atol=0.04)
    np.testing.assert_array_equal(batch.obs[:, 0], batch.reward)  # rows stay whole


@pytest.mark.parametrize("drop_last", [False, True])
def test_minibatches_cover_one_epoch_exactly_once(drop_last):
    buf = _empty(50).add_batch(_items(range(1, 24)))
    batches = list(buf.minibatches(jax.random.key(1), 5, drop_last=drop_last))
    sizes = [b.reward.shape[0] for b in batches]
    rewards = np.concatenate([b.reward for b in batches])
    if drop_last:
        assert sizes == [5] * 4 and len(set(rewards.tolist())) == 20
    else:
        assert sizes == [5] * 4 + [3]
        np.testing.assert_array_equal(np.sort(rewards), np.arange(1, 24))
    assert not np.array_equal(rewards[:5], np.arange(1, 6))  # shuffled


def test_save_load_roundtrip_is_exact(tmp_path):
    buf = _empty(6).add_batch(_items(range(1, 9)))
    path = tmp_path / "buffer.npz"
    buf.save(path)
    loaded = ReplayBuffer.load(path)
    assert isinstance(loaded.data, Transition) and loaded.capacity == 6
    assert int(loaded.size) == 6 and int(loaded.ptr) == 2
    for a, b in zip(jax.tree.leaves(buf), jax.tree.leaves(loaded), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == ["buffer.npz"]  # no temp file left behind


def test_save_load_dict_and_tuple_trees(tmp_path):
    example = {"x": jnp.zeros((2,), jnp.int16), "pair": (jnp.zeros(()), [jnp.zeros((3,))])}
    buf = ReplayBuffer.create(example, 3).add(
        {"x": jnp.array([1, 2]), "pair": (jnp.array(3.0), [jnp.arange(3.0)])}
    )
    buf.save(tmp_path / "b.npz")
    loaded = ReplayBuffer.load(tmp_path / "b.npz")
    assert jax.tree.structure(loaded) == jax.tree.structure(buf)
    assert loaded.data["x"].dtype == jnp.int16
    np.testing.assert_array_equal(loaded.data["pair"][1][0][0], [0, 1, 2])


def test_load_detects_corruption_and_names_the_file(tmp_path):
    path = tmp_path / "buffer.npz"
    _empty(64).add_batch(_items(range(40))).save(path)
    raw = bytearray(path.read_bytes())

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated.npz"):
        ReplayBuffer.load(truncated)

    # Rewrite one array with valid zip framing but different values: only the checksum sees it.
    with np.load(path, allow_pickle=False) as npz:
        files = {k: npz[k] for k in npz.files}
    files["leaf_2"] = files["leaf_2"] + 1.0
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **files)
    with pytest.raises(ValueError, match=r"tampered\.npz.*checksum"):
        ReplayBuffer.load(tampered)

    with pytest.raises(FileNotFoundError, match="missing.npz"):
        ReplayBuffer.load(tmp_path / "missing.npz")


def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "buffer.npz"
    old = _empty(4).add(_item(1.0))
    old.save(path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(buffer_module.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        old.add(_item(2.0)).save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["buffer.npz"]
    loaded = ReplayBuffer.load(path)
    assert int(loaded.size) == 1 and float(loaded.data.reward[0]) == 1.0
