"""A run directory: resolved config, ``metrics.csv``, TensorBoard events and plots."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
CURVE_FILE = "learning_curve.png"


class RunDirError(ValueError):
    """A run directory that cannot be used (it holds a run already, or none)."""


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


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON through a temp file and ``os.replace`` so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunLogger:
    """Owns one run directory. Rows go to ``metrics.csv`` (flushed at once) and TensorBoard.

    Refuses a directory that already holds a run, so nothing written before is overwritten.
    """

    def __init__(self, run_dir: str | Path, config: Any, columns: list[str], tensorboard=True):
        self.run_dir = Path(run_dir)
        if (self.run_dir / METRICS_FILE).exists() or (self.run_dir / CONFIG_FILE).exists():
            raise RunDirError(
                f"{self.run_dir} already holds a run; nothing was overwritten. "
                "Pass another --run-dir, or delete that directory if you no longer need it."
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.run_dir / CONFIG_FILE, to_jsonable(config))
        self.columns = list(columns)
        self._csv_file = open(self.run_dir / METRICS_FILE, "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self.columns, extrasaction="ignore")
        self._csv.writeheader()
        self._csv_file.flush()
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def log_row(self, row: dict[str, Any]) -> None:
        """Append one row of the CSV; every numeric value also goes to TensorBoard."""
        clean = {k: to_jsonable(v) for k, v in row.items()}
        self._csv.writerow({k: clean.get(k, "") for k in self.columns})
        self._csv_file.flush()
        if self._tb is not None:
            step = int(clean.get("env_steps", 0))
            for k, v in clean.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def close(self) -> None:
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
