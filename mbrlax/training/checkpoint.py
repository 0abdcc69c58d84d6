"""Checkpoints of a run: named pytrees of arrays plus JSON metadata, one ``.npz`` file each.

A checkpoint is written atomically (temp file, fsync, rename) with a sha256 over everything in
it, into ``<run_dir>/checkpoints/ckpt-<env_steps>.npz``; the last ``keep`` are kept. Trees are
restored into a *template* of the same structure (e.g. a freshly initialised agent state), so
nothing needs pickle: the file holds only arrays, the template brings the Python classes.

    manager = CheckpointManager(run_dir, keep=3)
    manager.save(env_steps, {"agent": state, "buffer": buffer, "key": key}, {"episode": 3})
    found = manager.restore_latest({"agent": template_state, "buffer": template, "key": key})
    if found is not None:
        trees, meta, path, skipped = found   # skipped: corrupt newer files, with the reason

PRNG key arrays are stored as their key data and re-wrapped with the same implementation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jaxtyping import PyTree

from mbrlax.data import npz
from mbrlax.errors import CheckpointError

CHECKPOINT_DIR = "checkpoints"
_FORMAT = "mbrlax.Checkpoint"
_FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d+)\.npz$")
DAMAGED_SUFFIX = ".damaged"
"""Appended to a checkpoint that failed to load when a run resumes from an older one."""


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _flatten(name: str, tree: PyTree[Any]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Arrays ``"<name>/<i>"`` and a description (path, dtype, shape, key impl) of each leaf."""
    arrays, leaves = {}, []
    for i, (path, leaf) in enumerate(jax.tree_util.tree_leaves_with_path(tree)):
        info: dict[str, Any] = {"path": jax.tree_util.keystr(path)}
        if _is_key(leaf):
            info["key_impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        arr = np.asarray(leaf)
        info.update(dtype=str(arr.dtype), shape=list(arr.shape))
        arrays[f"{name}/{i}"] = arr
        leaves.append(info)
    return arrays, leaves


def _unflatten(
    name: str, template: PyTree[Any], arrays: dict[str, np.ndarray], leaves: list[dict]
) -> PyTree[Any]:
    """Rebuild ``template``'s structure from the stored leaves, checking they fit it."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    if len(flat) != len(leaves):
        raise CheckpointError(
            f"'{name}' has {len(leaves)} arrays in the checkpoint but {len(flat)} in this run's "
            "state: the checkpoint was written with a different config or code version."
        )
    out = []
    for i, ((path, like), info) in enumerate(zip(flat, leaves, strict=True)):
        where = f"'{name}'{jax.tree_util.keystr(path)}"
        if jax.tree_util.keystr(path) != info["path"]:
            raise CheckpointError(
                f"{where}: the checkpoint has {info['path']} here; the state's structure changed."
            )
        arr = arrays[f"{name}/{i}"]
        if "key_impl" in info:
            out.append(jax.random.wrap_key_data(arr, impl=info["key_impl"]))
            continue
        like_arr = np.asarray(like)
        if arr.shape != like_arr.shape or arr.dtype != like_arr.dtype:
            raise CheckpointError(
                f"{where}: checkpoint array is {arr.dtype}{list(arr.shape)}, the state expects "
                f"{like_arr.dtype}{list(like_arr.shape)} (a different config?)."
            )
        if isinstance(like, jax.Array):
            out.append(jax.numpy.asarray(arr))
        elif isinstance(like, np.ndarray):
            out.append(arr)
        else:  # a Python or numpy scalar leaf
            out.append(type(like)(arr.item()))
    return jax.tree_util.tree_unflatten(treedef, out)


def save_checkpoint(path: str | os.PathLike, trees: dict[str, PyTree[Any]], meta: dict) -> None:
    """Write named pytrees and JSON-able ``meta`` to one file, atomically and checksummed."""
    arrays: dict[str, np.ndarray] = {}
    described = {}
    for name, tree in trees.items():
        a, leaves = _flatten(name, tree)
        arrays.update(a)
        described[name] = leaves
    header = {"format": _FORMAT, "version": _FORMAT_VERSION, "trees": described, "meta": meta}
    npz.save_with_meta(path, arrays, header)


def load_checkpoint(
    path: str | os.PathLike, templates: dict[str, PyTree[Any]]
) -> tuple[dict[str, PyTree[Any]], dict]:
    """Read a file of :func:`save_checkpoint` into ``templates``' structures.

    Returns:
        ``(trees, meta)``: one restored tree per template name, and the metadata.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: corrupt, truncated, another format, or not matching the templates.
    """
    try:
        arrays, header = npz.load_with_meta(path, "checkpoint")
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if header.get("format") != _FORMAT or header.get("version") != _FORMAT_VERSION:
        raise CheckpointError(
            f"{os.fspath(path)!r} is {header.get('format')!r} v{header.get('version')}, not an "
            f"{_FORMAT} v{_FORMAT_VERSION} file."
        )
    missing = set(templates) - set(header["trees"])
    if missing:
        raise CheckpointError(f"{os.fspath(path)!r} has no {sorted(missing)} state.")
    trees = {
        name: _unflatten(name, template, arrays, header["trees"][name])
        for name, template in templates.items()
    }
    return trees, header["meta"]


class Restored(NamedTuple):
    """What :meth:`CheckpointManager.restore_latest` found.

    Attributes:
        trees: the restored pytrees, by name.
        meta: the checkpoint's metadata.
        path: the file they came from.
        skipped: newer checkpoints that could not be used, as ``(path, reason)``.
    """

    trees: dict[str, PyTree[Any]]
    meta: dict
    path: Path
    skipped: list[tuple[Path, str]]


class CheckpointManager:
    """The checkpoints of one run directory: save, keep the last ``keep``, restore the newest
    usable one.

    Args:
        run_dir: the run directory; files go to ``run_dir / "checkpoints"``.
        keep: how many checkpoints to keep (>= 1); older ones are deleted after a save.
    """

    def __init__(self, run_dir: str | os.PathLike, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1 checkpoint, got {keep}.")
        self.folder = Path(run_dir) / CHECKPOINT_DIR
        self.keep = keep

    def paths(self) -> list[Path]:
        """Existing checkpoint files, oldest first (by the step in their name)."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found)]

    def save(self, step: int, trees: dict[str, PyTree[Any]], meta: dict) -> Path:
        """Write ``ckpt-<step>.npz`` and delete all but the newest ``keep`` checkpoints."""
        path = self.folder / f"ckpt-{step:010d}.npz"
        save_checkpoint(path, trees, {**meta, "step": step})
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def remove_temporaries(self) -> list[Path]:
        """Delete ``*.tmp`` files a killed save left behind; returns them."""
        if not self.folder.is_dir():
            return []
        leftovers = [p for p in self.folder.iterdir() if p.name.endswith(".tmp")]
        for p in leftovers:
            p.unlink(missing_ok=True)
        return leftovers

    def restore_latest(self, templates: dict[str, PyTree[Any]]) -> Restored | None:
        """The newest checkpoint that loads and verifies; ``None`` when there is none at all.

        Corrupt or truncated newer files are skipped (and listed in ``skipped``), never deleted:
        when a usable one is found, each is renamed aside to ``<name>.damaged`` (outside the
        ``ckpt-*.npz`` names, so the resumed run neither rotates it away nor saves over it)
        and left for a person to look at.

        Raises:
            CheckpointError: checkpoints exist but none of them can be used.
        """
        skipped: list[tuple[Path, str]] = []
        for path in reversed(self.paths()):
            try:
                trees, meta = load_checkpoint(path, templates)
            except (CheckpointError, FileNotFoundError) as e:
                skipped.append((path, str(e)))
                continue
            kept = []
            for bad, why in skipped:
                aside = bad.with_name(bad.name + DAMAGED_SUFFIX)
                if bad.exists():
                    os.replace(bad, aside)
                kept.append((bad, f"{why} (kept as {aside.name})"))
            return Restored(trees, meta, path, kept)
        if skipped:
            # Strip the file names so that one cause shared by every file is said once.
            causes = dict.fromkeys(why.replace(repr(str(p)), "it") for p, why in skipped)
            names = ", ".join(p.name for p, _ in skipped)
            raise CheckpointError(
                f"no usable checkpoint in {self.folder} ({names}): {' | '.join(causes)}"
            )
        return None
