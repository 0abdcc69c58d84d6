"""A fixed-capacity ring buffer over a pytree of arrays, and the `Transition` it usually holds.

The buffer is an immutable ``eqx.Module``: ``add`` returns a new buffer, so it can live inside
``lax.scan`` (JAX-native envs) as well as in a host loop (Gymnasium envs, through the donating
:func:`add_step`). Saved buffers are one ``.npz`` file holding the arrays and a JSON metadata
entry (tree structure, dtypes, size, ptr, capacity, sha256); never pickle.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from mbrlax.data import npz

_FORMAT = "mbrlax.ReplayBuffer"
_FORMAT_VERSION = 1


class Transition(NamedTuple):
    """One environment step (leading batch or capacity axes are added as needed).

    Attributes:
        obs: ``[d]`` observation before the step.
        action: ``[A]`` action taken.
        reward: ``[]`` reward received.
        next_obs: ``[d]`` observation after the step.
        terminated: ``[]`` bool, True when the episode ended in a terminal state (not a
            time-limit truncation, which does not cut bootstrapping).
    """

    obs: Float[Array, " d"]
    action: Float[Array, " A"]
    reward: Float[Array, ""]
    next_obs: Float[Array, " d"]
    terminated: Bool[Array, ""]


class ReplayBuffer(eqx.Module):
    """Fixed-capacity ring buffer; once full, the oldest rows are overwritten.

    Attributes:
        data: the stored pytree, every leaf with leading axis ``capacity``. Rows
            ``[0, size)`` are filled (the ring starts at row 0, so this holds once wrapped too).
        size: ``[]`` int32, number of filled rows (at most ``capacity``).
        ptr: ``[]`` int32, the row the next ``add`` writes.
        capacity: static number of rows.
    """

    data: PyTree[Array]
    size: Int[Array, ""]
    ptr: Int[Array, ""]
    capacity: int = eqx.field(static=True)

    @classmethod
    def create(cls, example: PyTree[Any], capacity: int) -> ReplayBuffer:
        """An empty buffer whose rows look like ``example`` (one item, no leading axis)."""
        if not isinstance(capacity, int | np.integer) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}.")
        data = jax.tree.map(
            lambda x: jnp.zeros((int(capacity),) + jnp.shape(x), jnp.asarray(x).dtype), example
        )
        # Two distinct arrays: `add_step` donates every leaf, and a leaf shared twice cannot be.
        size, ptr = jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32)
        return cls(data=data, size=size, ptr=ptr, capacity=int(capacity))

    def add(self, item: PyTree[Array]) -> ReplayBuffer:
        """Write one item (same structure and shapes as a row) at ``ptr``; jittable.

        Inside a trace this costs O(item). Called from host code it runs as one compiled call
        (the returned buffer is a copy; :func:`add_step` avoids the copy by donating).
        """
        if not isinstance(self.size, jax.core.Tracer):
            return _add_jit(self, item)
        return self._add(item)

    def add_batch(self, items: PyTree[Array]) -> ReplayBuffer:
        """Write ``n`` items (leading axis ``n``, in order) as ``n`` calls of ``add`` would."""
        if not isinstance(self.size, jax.core.Tracer):
            return _add_batch_jit(self, items)
        return self._add_batch(items)

    def _add(self, item: PyTree[Array]) -> ReplayBuffer:
        item = self._check(item, batched=False)
        data = jax.tree.map(lambda d, x: d.at[self.ptr].set(x.astype(d.dtype)), self.data, item)
        return ReplayBuffer(
            data=data,
            size=jnp.minimum(self.size + 1, self.capacity),
            ptr=(self.ptr + 1) % self.capacity,
            capacity=self.capacity,
        )

    def _add_batch(self, items: PyTree[Array]) -> ReplayBuffer:
        items = self._check(items, batched=True)
        n = jax.tree.leaves(items)[0].shape[0]
        # With more items than rows only the last `capacity` survive; dropping the others
        # keeps the scatter free of duplicate indices (whose write order is unspecified).
        first = max(n - self.capacity, 0)
        rows = (self.ptr + jnp.arange(first, n)) % self.capacity
        data = jax.tree.map(
            lambda d, x: d.at[rows].set(x[first:].astype(d.dtype)), self.data, items
        )
        return ReplayBuffer(
            data=data,
            size=jnp.minimum(self.size + n, self.capacity),
            ptr=(self.ptr + n) % self.capacity,
            capacity=self.capacity,
        )

    def add_masked(self, items: PyTree[Array], mask: Bool[Array, " n"]) -> ReplayBuffer:
        """Write the items whose ``mask`` is True (leading axis ``n``, in order), as that many
        calls of ``add`` would; jittable (the count is traced). Needs ``n <= capacity``.

        For variable amounts of data under static shapes, e.g. model rollouts whose particles
        terminate at different steps.
        """
        items = self._check(items, batched=True)
        n = jax.tree.leaves(items)[0].shape[0]
        if n > self.capacity:
            raise ValueError(f"add_masked writes at most capacity={self.capacity} rows, got {n}.")
        mask = jnp.asarray(mask, bool)
        count = jnp.sum(mask, dtype=jnp.int32)
        offset = jnp.cumsum(mask, dtype=jnp.int32) - 1
        # Unmasked rows go to index `capacity`, which the scatter drops.
        rows = jnp.where(mask, (self.ptr + offset) % self.capacity, self.capacity)
        data = jax.tree.map(
            lambda d, x: d.at[rows].set(x.astype(d.dtype), mode="drop"), self.data, items
        )
        return ReplayBuffer(
            data=data,
            size=jnp.minimum(self.size + count, self.capacity),
            ptr=(self.ptr + count) % self.capacity,
            capacity=self.capacity,
        )

    def sample(self, key: PRNGKeyArray, batch_size: int) -> PyTree[Array]:
        """``batch_size`` rows drawn uniformly with replacement from the filled part; jittable.

        Every leaf gets a leading axis ``[batch_size]``. Sampling an empty buffer returns row 0
        (zeros); callers add data first.
        """
        idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda d: d[idx], self.data)

    def sample_recent(
        self, key: PRNGKeyArray, batch_size: int, window: Int[Array, ""] | int
    ) -> PyTree[Array]:
        """``batch_size`` rows drawn uniformly with replacement from the ``window`` rows written
        last (all filled rows if fewer); jittable, ``window`` may be traced.

        A FIFO of ``window`` rows without reallocating: a buffer sized for the largest window
        serves every smaller one (MBPO's model pool, whose size follows the rollout length).
        """
        count = jnp.clip(jnp.minimum(self.size, window), 1, self.capacity)
        back = jax.random.randint(key, (batch_size,), 0, count)
        idx = (self.ptr - 1 - back) % self.capacity
        return jax.tree.map(lambda d: d[idx], self.data)

    def minibatches(
        self, key: PRNGKeyArray, batch_size: int, drop_last: bool = False
    ) -> Iterator[PyTree[Array]]:
        """Host-side iterator over one shuffled epoch of the filled rows.

        Yields pytrees whose leaves have leading axis ``[batch_size]`` (the last one smaller
        unless ``drop_last``). Not jittable: the number of batches depends on ``size``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        size = int(self.size)
        perm = np.asarray(jax.random.permutation(key, size))
        stop = size - size % batch_size if drop_last else size
        for start in range(0, stop, batch_size):
            idx = jnp.asarray(perm[start : start + batch_size])
            yield jax.tree.map(lambda d, idx=idx: d[idx], self.data)

    def _check(self, item: PyTree[Any], batched: bool) -> PyTree[Array]:
        """Trace-time check that ``item`` matches a row (or a batch of rows); returns arrays."""
        try:
            item = jax.tree.map(lambda d, x: jnp.asarray(x), self.data, item)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"item does not have the buffer's tree structure "
                f"{jax.tree.structure(self.data)}: {e}"
            ) from None
        lead = set()
        for path, d, x in zip(
            _paths(self.data), jax.tree.leaves(self.data), jax.tree.leaves(item), strict=True
        ):
            row = d.shape[1:]
            shape = x.shape[1:] if batched else x.shape
            if shape != row or (batched and x.ndim == 0):
                want = f"[n, {', '.join(map(str, row))}]" if batched else str(list(row))
                raise ValueError(
                    f"buffer leaf {path} has rows of shape {list(row)} but the item's leaf "
                    f"has shape {list(x.shape)} (expected {want}); reshape it before adding."
                )
            if batched:
                lead.add(x.shape[0])
        if len(lead) > 1:
            raise ValueError(f"add_batch needs one leading size for all leaves, got {lead}.")
        return item

    def save(self, path: str | os.PathLike) -> None:
        """Write the buffer to ``path`` (an ``.npz`` file) atomically, with a checksum.

        Arrays are stored as ``leaf_<i>`` and a JSON entry ``__metadata__`` holds the tree
        structure, dtypes, shapes, size, ptr, capacity and the sha256 of the arrays. The file is
        written to a temporary file in the same folder, fsynced and renamed over ``path``, so a
        crash leaves either the old file or the new one, never half of one.
        """
        path = os.fspath(path)
        structure, leaves = _encode_tree(self.data)
        arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "capacity": self.capacity,
            "size": int(self.size),
            "ptr": int(self.ptr),
            "structure": structure,
            "leaves": [{"dtype": str(a.dtype), "shape": list(a.shape)} for a in arrays.values()],
        }
        npz.save_with_meta(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`; verifies the checksum and the metadata.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is corrupt, truncated, not a saved buffer, or its arrays do not
                match its metadata (the message names the file).
        """
        try:
            files, meta = npz.load_with_meta(path, "replay buffer")
        except ValueError as e:
            raise ValueError(f"{e} Restore it from an earlier checkpoint.") from None
        try:
            if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
                raise ValueError(
                    f"format {meta.get('format')!r} v{meta.get('version')}, expected "
                    f"{_FORMAT!r} v{_FORMAT_VERSION}"
                )
            leaves = [files[f"leaf_{i}"] for i in range(len(meta["leaves"]))]
            for arr, spec in zip(leaves, meta["leaves"], strict=True):
                if str(arr.dtype) != spec["dtype"] or list(arr.shape) != spec["shape"]:
                    raise ValueError("an array's dtype or shape differs from the metadata")
                if arr.shape[:1] != (meta["capacity"],):
                    raise ValueError("an array's leading axis differs from the capacity")
            data = _decode_tree(meta["structure"], iter(leaves))
        except (ValueError, KeyError, TypeError, ImportError, AttributeError) as e:
            raise ValueError(f"cannot load replay buffer {path!r}: {e}.") from None
        return cls(
            data=jax.tree.map(jnp.asarray, data),
            size=jnp.asarray(meta["size"], jnp.int32),
            ptr=jnp.asarray(meta["ptr"], jnp.int32),
            capacity=int(meta["capacity"]),
        )


def _add(buffer: ReplayBuffer, item: PyTree[Any]) -> ReplayBuffer:
    return buffer._add(item)


def _add_batch(buffer: ReplayBuffer, items: PyTree[Any]) -> ReplayBuffer:
    return buffer._add_batch(items)


# jax.jit rather than eqx.filter_jit: Python scalars in an item (a Gymnasium reward) must be
# traced, not treated as static, or every new reward value would recompile.
_add_jit = jax.jit(_add)
_add_batch_jit = jax.jit(_add_batch)
add_step = jax.jit(_add, donate_argnums=0)
add_step.__doc__ = """``buffer.add(item)`` for host loops: compiled once and done in place.

The buffer's arrays are donated, so the update costs O(item) instead of a copy of the whole
buffer; the ``buffer`` passed in must not be used afterwards (use the returned one).
"""

add_batch_step = jax.jit(_add_batch, donate_argnums=0)
add_batch_step.__doc__ = "``buffer.add_batch(items)`` for host loops, in place like ``add_step``."


def _paths(tree: PyTree[Any]) -> list[str]:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return [jax.tree_util.keystr(p) or "<root>" for p, _ in leaves]


def _encode_tree(tree: Any) -> tuple[dict[str, Any], list[Any]]:
    """A JSON description of ``tree`` (dict / list / tuple / NamedTuple / None / array leaves)."""
    leaves: list[Any] = []

    def enc(x: Any) -> dict[str, Any]:
        if x is None:
            return {"type": "none"}
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            cls = type(x)
            return {
                "type": "namedtuple",
                "class": f"{cls.__module__}:{cls.__qualname__}",
                "fields": list(x._fields),
                "children": [enc(c) for c in x],
            }
        if isinstance(x, tuple | list):
            return {"type": type(x).__name__, "children": [enc(c) for c in x]}
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x):
                raise TypeError("ReplayBuffer.save supports dicts with str keys only.")
            keys = sorted(x)
            return {"type": "dict", "keys": keys, "children": [enc(x[k]) for k in keys]}
        if isinstance(x, jax.Array | np.ndarray):
            leaves.append(x)
            return {"type": "leaf"}
        raise TypeError(
            f"ReplayBuffer.save cannot describe a {type(x).__name__} node; store the data as "
            "dicts, lists, tuples or NamedTuples of arrays."
        )

    return enc(tree), leaves


def _decode_tree(spec: dict[str, Any], leaves: Iterator[np.ndarray]) -> Any:
    kind = spec["type"]
    if kind == "leaf":
        return next(leaves)
    if kind == "none":
        return None
    children = [_decode_tree(c, leaves) for c in spec.get("children", [])]
    if kind == "dict":
        return dict(zip(spec["keys"], children, strict=True))
    if kind == "list":
        return children
    if kind == "tuple":
        return tuple(children)
    if kind == "namedtuple":
        module, _, qualname = spec["class"].partition(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not (isinstance(obj, type) and issubclass(obj, tuple)):
            raise TypeError(f"{spec['class']} is not a NamedTuple class")
        if list(obj._fields) != spec["fields"]:
            raise ValueError(
                f"{spec['class']} now has fields {obj._fields}, file has {spec['fields']}"
            )
        return obj(*children)
    raise ValueError(f"unknown tree node type {kind!r}")
