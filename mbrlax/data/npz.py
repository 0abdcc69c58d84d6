"""Safe ``.npz`` files: written atomically, verified by checksum on read, never pickled.

Both the replay buffer and the runner's checkpoints are one ``.npz`` file holding arrays and
one JSON metadata entry; these helpers are the part they share.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

META_KEY = "__metadata__"


def checksum(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """sha256 over the metadata (sans checksum) and every array's name, dtype, shape and bytes."""
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temp file in the same folder, fsync, rename over ``path``, fsync folder.

    A crash at any moment leaves either the old file or the new one, never half of one (a
    leftover ``*.tmp`` file at worst, which readers ignore).
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    _atomic_write(path, "wb", lambda f: np.savez(f, **arrays))
    fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temp file of its own in the same folder, fsync, rename over ``path``.

    The temp file's name is unique, so two processes writing the same file at once (two
    sweeps of one benchmark group, say) never replace each other's half-written temp file.
    """
    _atomic_write(path, "w", lambda f: f.write(text))


def _atomic_write(path: str | os.PathLike, mode: str, write: Callable[[Any], Any]) -> None:
    """``write(file)`` into a uniquely named temp file beside ``path``, fsync it, and rename
    it over ``path``; on any failure the temp file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def fsync_dir(folder: str | os.PathLike) -> None:
    """fsync a folder so a rename inside it survives a power cut (a no-op where unsupported)."""
    if hasattr(os, "O_DIRECTORY"):
        dfd = os.open(os.fspath(folder), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def save_with_meta(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and ``meta`` (JSON-able) to ``path`` with ``meta["sha256"]`` added."""
    meta = dict(meta)
    meta["sha256"] = checksum(arrays, meta)
    atomic_savez(path, {**arrays, META_KEY: np.array(json.dumps(meta))})


def load_with_meta(path: str | os.PathLike, what: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_with_meta` and verify its checksum.

    Args:
        path: the ``.npz`` file.
        what: what the file is, for messages (e.g. ``"replay buffer"``).

    Returns:
        ``(arrays, meta)``, ``meta`` without its ``sha256``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: corrupt, truncated, or not such a file (the message names it).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {what} file at {path!r}.")
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is corrupt.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ValueError(
            f"{path!r} is not a readable {what} (corrupt or truncated: {e})."
        ) from None
    if META_KEY not in arrays:
        raise ValueError(f"{path!r} has no {META_KEY} entry: it is not a saved {what}.")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        expected = meta.pop("sha256")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path!r}: unreadable {what} metadata ({e}).") from None
    if checksum(arrays, meta) != expected:
        raise ValueError(
            f"{path!r}: sha256 checksum mismatch: the {what} was changed or damaged after it "
            "was written."
        )
    return arrays, meta
