"""Normalizer: chunked running statistics equal numpy's on the whole data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.data.normalizer import Normalizer


def _data(n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    # A large offset and very different scales: a naive sum of squares would cancel in float32.
    scale = np.array([[1.0, 1e-2], [10.0, 0.5]])
    return (1e3 + rng.normal(size=(n, 2, 2)) * scale).astype(np.float32)


def test_identity_before_any_data():
    norm = Normalizer.create((3,))
    x = jnp.array([1.0, -2.0, 5.0])
    np.testing.assert_array_equal(norm.normalize(x), x)
    np.testing.assert_array_equal(norm.denormalize(x), x)


def test_chunked_updates_match_numpy_on_all_data():
    data = _data()
    norm = Normalizer.create((2, 2))
    update = jax.jit(Normalizer.update)
    for chunk in np.split(data, [1, 50, 51, 200]):  # uneven chunks, one of a single row
        norm = update(norm, chunk)
    assert int(norm.count) == 300
    np.testing.assert_allclose(norm.mean, data.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var, data.astype(np.float64).var(0), rtol=1e-3)
    z = norm.normalize(data)
    np.testing.assert_allclose(np.mean(z, 0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.std(z, 0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(norm.denormalize(z), data, rtol=1e-6)


def test_masked_update_uses_only_the_masked_rows():
    data = _data()
    mask = np.random.default_rng(1).random(300) < 0.3
    norm = Normalizer.create((2, 2))
    norm = norm.update(data[:150], mask[:150]).update(data[150:], mask[150:])
    kept = data[mask].astype(np.float64)
    assert int(norm.count) == mask.sum()
    np.testing.assert_allclose(norm.mean, kept.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var, kept.var(0), rtol=1e-3)
    # An all-False mask changes nothing.
    same = norm.update(data[:10], np.zeros(10, bool))
    for a, b in zip(jax.tree.leaves(norm), jax.tree.leaves(same), strict=True):
        np.testing.assert_array_equal(a, b)


def test_constant_input_does_not_blow_up():
    norm = Normalizer.create((2,)).update(jnp.full((20, 2), 3.0))
    assert np.all(np.asarray(norm.std) == norm.eps)
    z = norm.normalize(jnp.full((2,), 3.0))
    np.testing.assert_array_equal(z, [0.0, 0.0])
    np.testing.assert_allclose(norm.denormalize(norm.normalize(jnp.array([3.5, 2.0]))), [3.5, 2.0])
