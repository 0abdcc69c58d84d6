"""A run directory: resolved config, ``metrics.csv``, TensorBoard events and plots."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mbrlax.data.npz import atomic_write_text
from mbrlax.errors import RunDirError

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
CURVE_FILE = "learning_curve.png"
LOG_FILE = "run.log"
CODE_FILE = "code.jsonl"
"""One line per start and resume of a run: which code ran it from which env step on."""


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, paths and numpy scalars as plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        out["__type__"] = type(obj).__name__
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / jax scalars
        return obj.item()
    return obj


NOT_CODE = ("benchmarks/results", "docs", "*.md")
"""Paths whose changes do not make a checkout ``dirty``: results files (benchmarks rewrite
them), the docs and other Markdown; code, configs and the build files do."""


def git_commit(root: str | Path, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"sha": ..., "dirty": ...}`` of the git work tree at ``root``: ``dirty`` says whether
    tracked files differ from the commit (paths in ``exclude`` left out). Outside a git work
    tree, or without git, both are None."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
            check=True,
        )  # fmt: skip
        return out.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        excluded = [f":(exclude){path}" for path in exclude]
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": bool(status)}


def code_version() -> dict[str, Any]:
    """The running mbrlax: ``{"mbrlax": version, "sha": ..., "dirty": ...}``, the commit
    where it runs from a git checkout (changes to :data:`NOT_CODE` left out of ``dirty``),
    else None."""
    from mbrlax import __version__

    root = Path(__file__).resolve().parents[2]
    commit = {"sha": None, "dirty": None}
    if (root / ".git").exists():
        commit = git_commit(root, exclude=NOT_CODE)
    return {"mbrlax": __version__, **commit}


def read_code_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The lines of a run's :data:`CODE_FILE` (none for runs from before it was written)."""
    path = Path(run_dir) / CODE_FILE
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON through a temp file and ``os.replace`` so a crash never leaves half a file."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True))


class RunLogger:
    """Owns one run directory. Rows go to ``metrics.csv`` (flushed at once) and TensorBoard;
    notes (resumes, skipped checkpoints) go to ``run.log`` and stderr.

    Refuses a directory that already holds a run, so nothing written before is overwritten;
    :meth:`reopen` continues one.
    """

    def __init__(self, run_dir: str | Path, config: Any, columns: list[str], tensorboard=True):
        self.run_dir = Path(run_dir)
        if (self.run_dir / METRICS_FILE).exists() or (self.run_dir / CONFIG_FILE).exists():
            raise RunDirError(
                f"{self.run_dir} already holds a run; nothing was overwritten. Continue it with "
                f"`mbrlax resume {self.run_dir}`, pass another --run-dir, or replace it with "
                "--overwrite if you no longer need it."
            )
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.run_dir / CONFIG_FILE, to_jsonable(config))
        except OSError as e:
            raise RunDirError(
                f"cannot write the run directory {self.run_dir} ({e.strerror}); pass a "
                "--run-dir you can write to."
            ) from None
        self.columns = list(columns)
        self._open([], purge_after=None, tensorboard=tensorboard)

    @classmethod
    def reopen(cls, run_dir: str | Path, columns: list[str], tensorboard=True) -> RunLogger:
        """The logger of an existing run, to resume it; call :meth:`truncate` before logging."""
        run_dir = Path(run_dir)
        if not (run_dir / CONFIG_FILE).exists():
            raise RunDirError(
                f"{run_dir} holds no run to resume (no {CONFIG_FILE}); start one with "
                "`mbrlax train`."
            )
        self = cls.__new__(cls)
        self.run_dir, self.columns = run_dir, list(columns)
        path = run_dir / METRICS_FILE
        if path.exists():  # columns an agent's metrics added to the file are kept
            with open(path, newline="") as f:
                header = next(csv.reader(f), [])
            self.columns += [c for c in header if c not in self.columns]
        self._csv_file, self._tb, self._tensorboard = None, None, tensorboard
        return self

    def truncate(self, rows: int, env_steps: int) -> None:
        """Keep the first ``rows`` rows of ``metrics.csv`` and open it for appending.

        Rows past a checkpoint were written by a process that died; the resumed run writes
        them again. TensorBoard is told to drop its events after ``env_steps`` likewise.
        """
        kept: list[dict[str, str]] = []
        path = self.run_dir / METRICS_FILE
        if path.exists():
            with open(path, newline="") as f:
                kept = list(csv.DictReader(f))[:rows]
        if len(kept) < rows:
            raise RunDirError(
                f"{path} has {len(kept)} rows but the checkpoint says {rows} were written: "
                "the file was edited or damaged. Restore it, or start a new run."
            )
        self._open(kept, purge_after=env_steps, tensorboard=self._tensorboard)

    def _open(self, kept: list[dict], purge_after: int | None, tensorboard: bool) -> None:
        self._write_csv(kept)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            purge = None if purge_after is None else purge_after + 1
            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=purge)

    def _write_csv(self, rows: list[dict]) -> None:
        """Write ``metrics.csv`` anew (atomically) with ``rows`` under :attr:`columns`, and
        open it for appending."""
        path = self.run_dir / METRICS_FILE
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._csv_file = open(path, "a", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self.columns, extrasaction="ignore")

    def record_code(self, env_steps: int) -> None:
        """Append to :data:`CODE_FILE` the code that runs the run from ``env_steps`` on (at
        its start and at every resume), so a run continued across versions says so."""
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        line = {"env_steps": int(env_steps), "time": stamp, **code_version()}
        with open(self.run_dir / CODE_FILE, "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")

    def note(self, message: str) -> None:
        """Append a timestamped line to ``run.log`` and say it on stderr."""
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        with open(self.run_dir / LOG_FILE, "a") as f:
            f.write(f"{stamp} {message}\n")
        print(f"mbrlax: {message}", file=sys.stderr)

    def log_row(self, row: dict[str, Any]) -> None:
        """Append one row of the CSV; every numeric value also goes to TensorBoard. A row with
        a key the CSV has no column for yet (an agent's first metrics) adds the column: the
        file is written anew with it, empty in the earlier rows."""
        clean = {k: to_jsonable(v) for k, v in row.items()}
        new = [k for k in clean if k not in self.columns]
        if new:
            self._csv_file.close()
            with open(self.run_dir / METRICS_FILE, newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns += new
            self._write_csv(rows)
        self._csv.writerow({k: clean.get(k, "") for k in self.columns})
        self._csv_file.flush()
        if self._tb is not None:
            step = int(clean.get("env_steps", 0))
            for k, v in clean.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def close(self) -> None:
        if self._csv_file is not None:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, float | str]]:
    """Rows of a run's ``metrics.csv`` with numbers parsed (empty cells become NaN)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir} has no {METRICS_FILE}: is it a run directory made by mbrlax?")
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            parsed: dict[str, float | str] = {}
            for k, v in row.items():
                try:
                    parsed[k] = float(v) if v != "" else float("nan")
                except ValueError:
                    parsed[k] = v
            rows.append(parsed)
    return rows


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved config a run was started with."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir} has no {CONFIG_FILE}: is it a run directory made by mbrlax?")
    return json.loads(path.read_text())
