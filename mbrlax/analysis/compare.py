"""Compare runs over seeds: find run directories, group them by (algo, env), summarise.

Everything here is a pure function of what run directories hold (``config.json`` and
``metrics.csv``, see ``mbrlax.training.logger``); ``mbrlax compare`` prints the summaries and
``mbrlax plot`` draws the curves that ``mean_curve`` aggregates.

Statistics over seeds: a group's mean is the plain mean over its runs and its standard error
is ``std(ddof=1) / sqrt(n)``, undefined (NaN) for a single run.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float

from mbrlax.training.logger import CONFIG_FILE, METRICS_FILE, RunDirError, read_config, read_metrics

GroupKey = tuple[str, str]  # (algo, env)


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory read into arrays, one entry per row of ``metrics.csv`` (T rows).

    Attributes:
        path: the run directory.
        algo: the algorithm (``config.json`` key ``algo``; ``"?"`` when absent).
        env: the env id (key ``env``; ``"?"`` when absent).
        seed: the run's seed (key ``seed``; None when absent).
        env_steps: [T] env steps taken when each row was logged.
        train_return: [T] return of the training episode.
        eval_return: [T] mean eval return; NaN on rows without an evaluation.
        wall_seconds: [T] seconds since the run started.
        episode_length: [T] steps of the training episode (NaN where not recorded).
    """

    path: Path
    algo: str
    env: str
    seed: int | None
    env_steps: Float[np.ndarray, " T"]
    train_return: Float[np.ndarray, " T"]
    eval_return: Float[np.ndarray, " T"]
    wall_seconds: Float[np.ndarray, " T"]
    episode_length: Float[np.ndarray, " T"] = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def key(self) -> GroupKey:
        """The group this run belongs to: ``(algo, env)``."""
        return (self.algo, self.env)

    @property
    def evals(self) -> tuple[Float[np.ndarray, " E"], Float[np.ndarray, " E"]]:
        """``(env_steps [E], eval_return [E])`` of the E rows with a finite eval return.

        A run without any evaluation (``--eval-episodes 0``, as known-model MPC runs by
        default: its training episodes already show the controller) gives its training
        returns instead; see :attr:`evaluated`.
        """
        if not self.evaluated:
            ok = np.isfinite(self.train_return)
            return self.env_steps[ok], self.train_return[ok]
        ok = np.isfinite(self.eval_return)
        return self.env_steps[ok], self.eval_return[ok]

    @property
    def evaluated(self) -> bool:
        """Whether any row has a finite eval return (else :attr:`evals` are train returns)."""
        return bool(np.isfinite(self.eval_return).any())


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` holds both ``metrics.csv`` and ``config.json``."""
    path = Path(path)
    return (path / METRICS_FILE).is_file() and (path / CONFIG_FILE).is_file()


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """The run directories named by ``paths``, in the order given, each once.

    A path is taken as a run directory when it holds ``metrics.csv`` or ``config.json`` (so a
    half-written one is reported by ``load_run`` for what it lacks); otherwise every folder
    below it holding both files is found, recursively, in sorted order (a sweep's folder).
    Raises ``RunDirError`` for a path that does not exist or holds no run.
    """
    found: dict[Path, Path] = {}  # resolved -> as given, so `runs/ runs/p0` reads p0 once
    for path in map(Path, paths):
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise RunDirError(f"{path} {what}; pass run directories or folders that hold them.")
        if (path / METRICS_FILE).exists() or (path / CONFIG_FILE).exists():
            below = [path]
        else:
            below = []
            for root, dirs, _ in os.walk(path):
                dirs.sort()
                if is_run_dir(root):
                    below.append(Path(root))
                    dirs.clear()  # a run directory holds no further runs
        if not below:
            raise RunDirError(
                f"{path} holds no runs: no folder below it has both {METRICS_FILE} and "
                f"{CONFIG_FILE}. Pass directories written by `mbrlax train`."
            )
        for run_dir in below:
            found.setdefault(run_dir.resolve(), run_dir)
    return list(found.values())


def load_run(run_dir: str | Path) -> Run:
    """Read one run directory (raises ``RunDirError`` when a file is missing)."""
    cfg = read_config(run_dir) or {}  # `train(run_config=None)` records null
    rows = read_metrics(run_dir)

    def column(name: str) -> np.ndarray:
        return np.array([r.get(name, math.nan) for r in rows], dtype=float).reshape(-1)

    seed = cfg.get("seed")
    return Run(
        path=Path(run_dir),
        algo=str(cfg.get("algo", "?")),
        env=str(cfg.get("env", "?")),
        seed=int(seed) if seed is not None else None,
        env_steps=column("env_steps"),
        train_return=column("train_return"),
        eval_return=column("eval_return"),
        wall_seconds=column("wall_seconds"),
        episode_length=column("train_episode_length"),
    )


def group_runs(runs: Iterable[Run]) -> dict[GroupKey, list[Run]]:
    """Runs grouped by ``(algo, env)``, groups in order of first appearance, seeds sorted."""
    groups: dict[GroupKey, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.key, []).append(run)
    for runs_ in groups.values():
        runs_.sort(key=lambda r: (r.seed is None, r.seed or 0))
    return groups


def duplicate_seeds(runs: Sequence[Run]) -> list[int]:
    """Seeds that occur more than once among ``runs`` (they would be counted twice)."""
    seeds = [r.seed for r in runs if r.seed is not None]
    return sorted({s for s in seeds if seeds.count(s) > 1})


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (``std(ddof=1) / sqrt(n)``) of n values; SE is NaN for n < 2."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    se = float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else math.nan
    return float(np.mean(x)), se


@dataclasses.dataclass(frozen=True)
class CurveStats:
    """A learning curve aggregated over seeds, on G grid points.

    Attributes:
        env_steps: [G] the common grid.
        mean: [G] mean over the runs.
        se: [G] standard error over the runs (NaN with one run).
    """

    env_steps: Float[np.ndarray, " G"]
    mean: Float[np.ndarray, " G"]
    se: Float[np.ndarray, " G"]


def mean_curve(
    curves: Sequence[tuple[Float[np.ndarray, " E"], Float[np.ndarray, " E"]]],
) -> CurveStats:
    """Mean and standard error over seeds of curves ``(env_steps [E_i], values [E_i])``.

    Runs are evaluated at different steps when episodes end early, and one may still be going,
    so each curve is linearly interpolated onto a common grid: every step at which some run was
    evaluated, within the range that all runs cover (from the latest first step to the earliest
    last step; nothing is extrapolated). Where runs share their steps this is exactly those
    steps and the raw values. Empty curves are left out; no common range gives G = 0.
    """
    curves = [(np.asarray(s, float), np.asarray(v, float)) for s, v in curves if len(s)]
    if not curves:
        empty = np.zeros(0)
        return CurveStats(empty, empty, empty)
    lo = max(s[0] for s, _ in curves)
    hi = min(s[-1] for s, _ in curves)
    grid = np.unique(np.concatenate([s for s, _ in curves]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    values = np.stack([np.interp(grid, s, v) for s, v in curves])  # [N, G]
    n = len(curves)
    se = values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(grid.shape, np.nan)
    return CurveStats(grid, values.mean(axis=0), se)


def steps_to_threshold(run: Run, threshold: float) -> float:
    """The first ``env_steps`` whose eval return is ``>= threshold``; NaN if none is."""
    steps, returns = run.evals
    hit = np.flatnonzero(returns >= threshold)
    return float(steps[hit[0]]) if hit.size else math.nan


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Eval-return thresholds for steps-to-threshold, per env with an optional default.

    Attributes:
        default: the threshold of envs not named in ``per_env`` (None: no threshold).
        per_env: env id -> threshold.
    """

    default: float | None = None
    per_env: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def for_env(self, env: str) -> float | None:
        """The threshold that applies to ``env``, or None."""
        return self.per_env.get(env, self.default)


def parse_thresholds(specs: Iterable[str]) -> Thresholds:
    """Parse ``--threshold`` values: ``VALUE`` (every env) or ``ENV=VALUE`` (one env).

    Raises ``ValueError`` saying what is wrong for a value that is not a finite number, an
    empty env, or an env (or the default) given twice.
    """
    default: float | None = None
    per_env: dict[str, float] = {}
    for spec in specs:
        env, sep, text = spec.rpartition("=")
        env = env.strip()
        if sep and not env:
            raise ValueError(f"threshold {spec!r} names no env; write ENV=VALUE or VALUE.")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(
                f"threshold {spec!r}: {text!r} is not a finite number; write VALUE or "
                "ENV=VALUE, e.g. --threshold Pendulum-v1=-200."
            )
        if (env in per_env) if sep else (default is not None):
            raise ValueError(f"threshold for {env or 'every env'} given twice ({spec!r}).")
        if sep:
            per_env[env] = value
        else:
            default = value
    return Thresholds(default, per_env)


@dataclasses.dataclass(frozen=True)
class GroupSummary:
    """One (algo, env) group of runs summarised over its seeds.

    A run's final eval return is that of its last row with a finite eval return; runs with no
    such row yet are left out of the eval statistics (``n_evaluated < n_runs``).

    Attributes:
        algo: the algorithm.
        env: the env id.
        seeds: the runs' seeds, sorted (None where a config names none).
        n_runs: number of runs.
        n_evaluated: runs with at least one eval row.
        final_env_steps: mean env steps at the runs' final evals.
        final_eval_mean: mean over runs of the final eval return.
        final_eval_se: its standard error (NaN for fewer than 2 evaluated runs).
        best_eval_mean: mean over runs of each run's best eval return.
        threshold: the eval return to reach (None: not asked for this env).
        steps_to_threshold_mean: mean, over the runs that reached the threshold, of the first
            env steps at which they did (NaN when none did).
        reached: how many of the ``n_runs`` runs reached the threshold.
        wall_seconds_mean: mean over runs of the last row's wall seconds.
    """

    algo: str
    env: str
    seeds: tuple[int | None, ...]
    n_runs: int
    n_evaluated: int
    final_env_steps: float
    final_eval_mean: float
    final_eval_se: float
    best_eval_mean: float
    threshold: float | None
    steps_to_threshold_mean: float
    reached: int
    wall_seconds_mean: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values: NaN becomes None, seeds a list."""
        out = dataclasses.asdict(self)
        out["seeds"] = list(self.seeds)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}


def summarise_group(runs: Sequence[Run], threshold: float | None = None) -> GroupSummary:
    """Summarise the runs of one (algo, env) group over their seeds."""
    evaluated = [r.evals for r in runs if r.evals[0].size]
    final_mean, final_se = mean_and_se([v[-1] for _, v in evaluated])
    reached = []
    if threshold is not None:
        reached = [s for s in (steps_to_threshold(r, threshold) for r in runs) if math.isfinite(s)]
    walls = [r.wall_seconds[-1] for r in runs if r.wall_seconds.size]
    return GroupSummary(
        algo=runs[0].algo,
        env=runs[0].env,
        seeds=tuple(r.seed for r in runs),
        n_runs=len(runs),
        n_evaluated=len(evaluated),
        final_env_steps=mean_and_se([s[-1] for s, _ in evaluated])[0],
        final_eval_mean=final_mean,
        final_eval_se=final_se,
        best_eval_mean=mean_and_se([np.max(v) for _, v in evaluated])[0],
        threshold=threshold,
        steps_to_threshold_mean=mean_and_se(reached)[0],
        reached=len(reached),
        wall_seconds_mean=float(np.nanmean(walls)) if np.isfinite(walls).any() else math.nan,
    )


def summarise(
    run_dirs: Iterable[str | Path], thresholds: Thresholds | None = None
) -> list[GroupSummary]:
    """One summary per (algo, env) group of ``run_dirs``, in order of first appearance.

    Raises ``ValueError`` when ``thresholds`` names an env that no run is on (a typo would
    otherwise silently leave the column empty).
    """
    thresholds = thresholds or Thresholds()
    groups = group_runs(load_run(d) for d in run_dirs)
    envs = sorted({env for _, env in groups})
    for env in thresholds.per_env:
        if env not in envs:
            close = difflib.get_close_matches(env, envs, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"threshold given for env {env!r} but no run is on it; envs: {', '.join(envs)}."
                + hint
            )
    return [summarise_group(runs, thresholds.for_env(env)) for (_, env), runs in groups.items()]


def _num(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


def format_compare_table(summaries: Sequence[GroupSummary]) -> str:
    """A plain-text table, one line per group; threshold columns only when one was asked for.

    Final eval reads ``mean +- standard error``; ``-`` marks a value that does not exist
    (the SE of one run, steps to a threshold no run reached).
    """
    with_threshold = any(s.threshold is not None for s in summaries)
    header = ["algo", "env", "seeds", "env steps", "final eval", "best eval"]
    if with_threshold:
        header += ["threshold", "steps to thr", "reached"]
    header += ["wall s"]
    lines = []
    for s in summaries:
        seeds = str(s.n_runs)
        if s.n_evaluated < s.n_runs:
            seeds = f"{s.n_runs} ({s.n_evaluated} evaluated)"
        final = _num(s.final_eval_mean)
        if math.isfinite(s.final_eval_se):
            final += f" +- {s.final_eval_se:.1f}"
        line = [s.algo, s.env, seeds, _num(s.final_env_steps, 0), final, _num(s.best_eval_mean)]
        if with_threshold:
            if s.threshold is None:
                line += ["-", "-", "-"]
            else:
                line += [f"{s.threshold:g}", _num(s.steps_to_threshold_mean, 0)]
                line += [f"{s.reached}/{s.n_runs}"]
        line += [_num(s.wall_seconds_mean)]
        lines.append(line)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    left = {"algo", "env"}

    def join(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if h in left else c.rjust(w)
            for c, w, h in zip(cells, widths, header, strict=True)
        ).rstrip()

    return "\n".join([join(header), *(join(line) for line in lines)])


def summaries_to_csv(summaries: Sequence[GroupSummary]) -> str:
    """The summaries as CSV text, one row per group (empty cells where there is no value).

    Seeds are written space-separated in one cell.
    """
    fields = [f.name for f in dataclasses.fields(GroupSummary)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for s in summaries:
        row = s.as_dict()
        row["seeds"] = " ".join("?" if x is None else str(x) for x in s.seeds)
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()
