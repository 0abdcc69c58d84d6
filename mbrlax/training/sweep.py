"""Sweeps: a grid of trainings (algorithms x envs x seeds x option values), each trial an
ordinary run directory, run on Ray or one after another, then compared.

    cfg = SweepConfig(
        envs=("Pendulum-v1", "mbrlax/Pendulum-v0"),
        seeds=(0, 1, 2),
        out=Path("runs/sweep1"),
        options={"--agent.planner.population": ("100", "200")},
        fixed=("--episodes", "10"),
    )
    result = run_sweep(cfg, backend="ray")

A trial is ``python -m mbrlax.cli train ALGO --env ENV --seed S --run-dir OUT/NAME ...`` in a
process of its own, so a crash of one trial never takes the sweep down and every trial can be
read, plotted, evaluated and resumed like any other run. Running a sweep again continues it:
trials whose run directory holds a finished run (``summary.json``) are skipped, trials with an
unfinished run are resumed with ``mbrlax resume``, failed ones are tried again.

What a sweep writes into ``OUT``: one run directory per trial, ``trial_logs/NAME.log`` (each
trial's output), ``sweep.json`` (the grid and every trial's command), ``sweep_summary.csv``
(the comparison table) and ``sweep.png`` (learning curves, mean +- standard error over seeds;
``sweep-LABEL.png`` per option combination when the grid has options).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.util
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from mbrlax.analysis.compare import (
    GroupSummary,
    Thresholds,
    format_compare_table,
    summaries_to_csv,
    summarise,
)
from mbrlax.data.npz import atomic_write_text
from mbrlax.errors import SweepError
from mbrlax.training.logger import CONFIG_FILE, write_json_atomic

Backend = Literal["auto", "ray", "process"]
BACKENDS: tuple[str, ...] = ("auto", "ray", "process")
SWEEP_FILE = "sweep.json"
SUMMARY_CSV = "sweep_summary.csv"
PLOT_FILE = "sweep.png"
LOG_DIR = "trial_logs"
CACHE_DIR = "jax_cache"
RAY_HINT = "pip install 'mbrlax[ray]'"

# Flags the sweep sets for every trial itself (or that would break re-running it).
_RESERVED = ("--env", "--seed", "--run-dir", "--resume", "--overwrite")
# A tyro subcommand token such as ``agent.planner:cem``.
_SUBCOMMAND = re.compile(r"^[A-Za-z_][\w.-]*:[\w.-]+$")
_FLAG_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of trainings: every algorithm x env x option combination x seed is one trial.

    Attributes:
        envs: env ids, as ``mbrlax train --env`` takes them.
        seeds: the seeds of every (algorithm, env, option combination).
        out: the sweep's folder: one run directory per trial and the sweep's own files.
        algos: algorithms, as ``mbrlax train ALGO`` takes them.
        options: the grid's option axes, in order. A key is a flag of ``mbrlax train``
            (``"--agent.planner.population"``) whose values are its arguments (a value with
            spaces is split like a shell would: ``"16 16"`` for ``--agent.model.hidden-sizes``),
            or a subcommand group ending in ``:`` (``"agent.planner:"``) whose values name the
            choice (``"cem"``, ``"icem"``).
        fixed: arguments of ``mbrlax train ALGO`` given to every trial, e.g.
            ``("--episodes", "10", "agent.planner:cem", "--agent.planner.horizon", "15")``;
            an option of the grid overrides the same flag here.
    """

    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    out: Path
    algos: tuple[str, ...] = ("pets",)
    options: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    fixed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (what ``sweep.json`` holds besides the trials)."""
        return {
            "algos": list(self.algos),
            "envs": list(self.envs),
            "seeds": list(self.seeds),
            "options": {k: list(v) for k, v in self.options.items()},
            "fixed": list(self.fixed),
        }


@dataclasses.dataclass(frozen=True)
class Trial:
    """One point of the grid: one ``mbrlax train`` run.

    Attributes:
        algo: the algorithm.
        env: the env id.
        seed: the seed.
        options: ``(key, value)`` for every option axis of the grid, in its order.
        label: the options as ``name=value`` words ("" for a grid without options).
        run_dir: the trial's run directory (absolute).
        argv: the arguments of ``mbrlax`` that start the run (``train ALGO ...``).
    """

    algo: str
    env: str
    seed: int
    options: tuple[tuple[str, str], ...]
    label: str
    run_dir: Path
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        """The run directory's name, which is unique within the sweep."""
        return self.run_dir.name

    @property
    def group(self) -> str:
        """What the comparison table calls the trial's algorithm: ``pets[population=16]``."""
        return f"{self.algo}[{self.label}]" if self.label else self.algo

    @property
    def command(self) -> str:
        """The trial as a shell command."""
        return shlex.join(["mbrlax", *self.argv])


@dataclasses.dataclass(frozen=True)
class TrialOutcome:
    """What became of one trial.

    Attributes:
        trial: the trial.
        action: ``"train"``, ``"resume"`` (an unfinished run continued) or ``"skip"`` (its run
            had finished before the sweep started).
        returncode: the exit status of its process (negative: killed by that signal); None
            when it was skipped or never started.
        seconds: wall-clock seconds of its process.
        log: the file holding its output.
        error: why it failed, in words ("" when it did not).
    """

    trial: Trial
    action: str
    returncode: int | None
    seconds: float
    log: Path
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the trial's run directory now holds its finished run."""
        return self.action == "skip" or (self.returncode == 0 and not self.error)


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """A finished sweep.

    Attributes:
        config: the grid.
        outcomes: one per trial, in the grid's order.
        summaries: one ``mbrlax.analysis.compare.GroupSummary`` per (algorithm with options, env),
            over the trials that finished.
        table: the summaries as the text table ``mbrlax compare`` prints ("" without any).
        files: what was written into ``config.out`` besides the run directories.
    """

    config: SweepConfig
    outcomes: tuple[TrialOutcome, ...]
    summaries: tuple[GroupSummary, ...]
    table: str
    files: tuple[Path, ...]

    @property
    def failed(self) -> tuple[TrialOutcome, ...]:
        """The trials that did not finish."""
        return tuple(o for o in self.outcomes if not o.ok)


# -- the grid --------------------------------------------------------------------------------


def parse_option(spec: str) -> tuple[str, tuple[str, ...]]:
    """Parse one ``--option`` of ``mbrlax sweep`` into a ``SweepConfig.options`` item.

    ``FLAG=V1,V2,...`` (``agent.planner.population=16,32``) sweeps a flag of ``mbrlax train``;
    ``GROUP:NAME1,NAME2,...`` (``agent.planner:cem,icem``) sweeps a subcommand choice.
    Raises ``SweepError`` for anything else.
    """
    how = (
        "write FLAG=V1,V2,... (e.g. agent.planner.population=16,32) or GROUP:NAME1,NAME2,... "
        "(e.g. agent.planner:cem,icem)"
    )
    if "=" in spec:
        name, _, text = spec.partition("=")
        name = name.strip().removeprefix("--")
        key = f"--{name}"
    elif ":" in spec:
        name, _, text = spec.partition(":")
        name = name.strip()
        key = f"{name}:"
    else:
        raise SweepError(f"option {spec!r} has no values; {how}.")
    if not _FLAG_NAME.match(name):
        raise SweepError(f"option {spec!r}: {name!r} is not a flag or subcommand name; {how}.")
    values = tuple(v.strip() for v in text.split(","))
    if not all(values):
        raise SweepError(f"option {spec!r} has an empty value; {how}.")
    return key, values


def _check(cfg: SweepConfig) -> None:
    for what, axis in (("--algos", cfg.algos), ("--envs", cfg.envs), ("--seeds", cfg.seeds)):
        if not axis:
            raise SweepError(f"the grid is empty: give at least one value to {what}.")
        if len(set(axis)) < len(axis):
            twice = sorted({str(x) for x in axis if list(axis).count(x) > 1})
            raise SweepError(f"{what} names {', '.join(twice)} more than once.")
    for key, values in cfg.options.items():
        is_group = key.endswith(":")
        name = key[:-1] if is_group else key.removeprefix("--")
        if not (is_group or key.startswith("--")) or not _FLAG_NAME.match(name):
            raise SweepError(
                f"option key {key!r} is neither a flag ('--agent.planner.population') nor a "
                "subcommand group ('agent.planner:')."
            )
        if key in _RESERVED:
            raise SweepError(f"{key} is set by the sweep itself; sweep it with its own axis.")
        if not values or not all(values) or len(set(values)) < len(values):
            raise SweepError(f"option {key}: give distinct, non-empty values (got {values}).")
        if is_group and not all(_SUBCOMMAND.match(f"{key}{v}") for v in values):
            raise SweepError(f"option {key}: {values} are not subcommand names such as 'cem'.")
    for arg in cfg.fixed:
        if arg.split("=", 1)[0] in _RESERVED:
            raise SweepError(
                f"{arg.split('=', 1)[0]} cannot be among the train args: the sweep sets "
                "--env, --seed and --run-dir for every trial, and re-running the sweep "
                "resumes unfinished trials by itself."
            )


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """The shortest dotted suffix of each option key that no other key ends with."""
    names = {k: k.removeprefix("--").rstrip(":") for k in keys}
    short = {}
    for key, name in names.items():
        parts = name.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            others = (o for k, o in names.items() if k != key)
            if not any(o == suffix or o.endswith("." + suffix) for o in others):
                break
        short[key] = suffix
    return short


def _clean(text: str) -> str:
    """``text`` made safe for one path component."""
    return re.sub(r"[^\w.=+-]+", "_", text).strip("_") or "_"


def _train_argv(
    algo: str, env: str, seed: int, run_dir: Path, fixed: Sequence[str], options: Sequence
) -> tuple[str, ...]:
    """``mbrlax`` arguments for one trial, ordered as tyro wants them.

    tyro applies a flag to the subcommand just before it, so the fixed args are cut into the
    part before any subcommand and one part per subcommand; a grid option replaces the
    subcommand it chooses, or is appended (so that it wins) to the part its flag belongs to.
    """
    head: list[str] = []
    parts: dict[str, tuple[str, list[str]]] = {}  # group -> (choice, its args)
    current = head
    for arg in fixed:
        if _SUBCOMMAND.match(arg):
            group, choice = arg.split(":", 1)
            parts[group] = (choice, [])
            current = parts[group][1]
        else:
            current.append(arg)
    for key, value in options:
        if key.endswith(":"):
            group = key[:-1]
            parts[group] = (value, parts.get(group, ("", []))[1])
    for key, value in options:
        if key.endswith(":"):
            continue
        name = key.removeprefix("--")
        owners = [g for g in parts if name.startswith(g + ".")]
        target = parts[max(owners, key=len)][1] if owners else head
        target += [key, *shlex.split(value)]
    argv = ["train", algo, "--env", env, "--seed", str(seed), "--run-dir", str(run_dir), *head]
    for group, (choice, args) in parts.items():
        argv += [f"{group}:{choice}", *args]
    return tuple(argv)


def expand(cfg: SweepConfig) -> list[Trial]:
    """Every trial of the grid, seed by seed (so the first trials to run cover every algorithm,
    env and option combination once), then by algorithm, env and option values.

    A trial's run directory is ``OUT/ALGO-ENV[-NAME=VALUE...]-seedS`` (``/`` in an env id
    becomes ``_``; NAME is the shortest unambiguous end of the option's flag). Raises
    ``SweepError`` for an empty or malformed grid.
    """
    _check(cfg)
    out = Path(cfg.out).absolute()
    keys = list(cfg.options)
    short = _short_names(keys)
    combos = list(itertools.product(*(cfg.options[k] for k in keys)))
    trials = []
    for seed, algo, env, combo in itertools.product(cfg.seeds, cfg.algos, cfg.envs, combos):
        options = tuple(zip(keys, combo, strict=True))
        label = " ".join(f"{short[k]}={v}" for k, v in options)
        words = [algo, env.replace("/", "_"), *(f"{short[k]}={v}" for k, v in options)]
        run_dir = out / _clean("-".join([*words, f"seed{seed}"]))
        argv = _train_argv(algo, env, seed, run_dir, cfg.fixed, options)
        trials.append(Trial(algo, env, int(seed), options, label, run_dir, argv))
    seen: dict[Path, Trial] = {}
    for t in trials:
        if t.run_dir in seen:
            raise SweepError(
                f"trials {seen[t.run_dir].command!r} and {t.command!r} would share the run "
                f"directory {t.run_dir.name}: give option values that differ in letters or "
                "digits."
            )
        seen[t.run_dir] = t
    return trials


def validate(trials: Sequence[Trial]) -> None:
    """Parse every distinct trial's train args as ``mbrlax train`` would, before any starts.

    A mistyped flag thus fails the sweep at once (tyro's message, with the valid flags, is
    printed above the ``SweepError``), not in every trial.
    """
    import tyro

    from mbrlax.training.experiment import EXPERIMENTS as experiments

    checked = set()
    for t in trials:
        if t.algo not in experiments:
            close = difflib.get_close_matches(t.algo, list(experiments), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SweepError(
                f"unknown algorithm {t.algo!r}; valid: {', '.join(experiments)}.{hint}"
            )
        key = (t.algo, t.env, t.options)
        if key in checked:
            continue
        checked.add(key)
        cls = experiments[t.algo]
        try:
            tyro.cli(cls, args=list(t.argv[2:]), default=cls.preset(t.env), prog=t.command)
        except SystemExit as e:
            if e.code in (0, None):
                raise
            raise SweepError(
                f"the train args of trial {t.name} are not valid (see above): {t.command}"
            ) from None


# -- one trial ---------------------------------------------------------------------------------


def trial_env(out: Path, compile_cache: bool, parallel: bool) -> dict[str, str]:
    """Environment variables for every trial's process.

    With ``compile_cache`` the trials share a persistent JAX compilation cache in
    ``OUT/jax_cache`` (unless ``JAX_COMPILATION_CACHE_DIR`` is set already): trials of the
    same shapes (seeds, mostly) then load what the first one compiled instead of compiling it
    again. Trials running at the same time (``parallel``) lock the cache while reading and
    writing it (JAX does so once a size limit is set). Variables already set win.
    """
    env = {"PYTHONUNBUFFERED": "1"}  # a trial's log is readable while it runs
    if compile_cache:
        env |= {
            "JAX_COMPILATION_CACHE_DIR": str(Path(out).absolute() / CACHE_DIR),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
        if parallel:
            env["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(4 << 30)  # bytes
    return {k: v for k, v in env.items() if k not in os.environ}


def _jax_threads_running() -> bool:
    """Whether this process has started a JAX backend (importing JAX alone starts none)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without this private helper: be safe
        return True


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux end the trial when the process that started it dies
    (a Ray worker killed by ``ray.shutdown`` or Ctrl-C), so no trial goes on unwatched."""
    if not sys.platform.startswith("linux") or _jax_threads_running():
        # With JAX's threads running in this process, running Python between fork and exec
        # can deadlock; then the trial is not tied to its parent's life.
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _tail(path: Path, start: int, lines: int = 15) -> str:
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_trial(trial: Trial, log: Path, env: Mapping[str, str]) -> TrialOutcome:
    """Run one trial in a process of its own: ``mbrlax train``, or ``mbrlax resume`` when its
    run directory holds a started run; its output is appended to ``log``."""
    resume = (trial.run_dir / CONFIG_FILE).exists()
    argv = ["resume", str(trial.run_dir)] if resume else list(trial.argv)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        f.write(f"\n=== {stamp} {shlex.join(['mbrlax', *argv])}\n".encode())
        f.flush()
        start = f.tell()
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "mbrlax.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            preexec_fn=_die_with_parent(),
        )
        seconds = time.monotonic() - t0
    error = ""
    if proc.returncode != 0:
        how = f"exit status {proc.returncode}"
        if -proc.returncode in signal.valid_signals():
            how = f"killed by {signal.Signals(-proc.returncode).name}"
        error = f"{how}; last lines of {log}:\n{_tail(log, start)}"
    action = "resume" if resume else "train"
    return TrialOutcome(trial, action, proc.returncode, seconds, log, error)


# -- backends ------------------------------------------------------------------------------


def ray_available() -> bool:
    """Whether Ray can be imported (``pip install 'mbrlax[ray]'``)."""
    return importlib.util.find_spec("ray") is not None


def choose_backend(backend: str, address: str | None) -> str:
    """``"ray"`` or ``"process"`` for a requested backend; ``"auto"`` is Ray when installed."""
    if backend not in BACKENDS:
        close = difflib.get_close_matches(backend, BACKENDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SweepError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.{hint}")
    if backend == "process":
        if address is not None:
            raise SweepError("--address names a Ray cluster; it needs --backend ray (or auto).")
        return "process"
    if ray_available():
        return "ray"
    if backend == "ray" or address is not None:
        raise SweepError(f"the ray backend needs Ray, which is not installed: {RAY_HINT}")
    return "process"


def _run_in_processes(
    trials: Sequence[Trial], logs: Sequence[Path], env: Mapping[str, str]
) -> Iterator[TrialOutcome]:
    for trial, log in zip(trials, logs, strict=True):
        yield run_trial(trial, log, env)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (what ``ray.init`` reads)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_on_ray(
    trials: Sequence[Trial],
    logs: Sequence[Path],
    env: Mapping[str, str],
    address: str | None,
    num_cpus: int | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
) -> Iterator[TrialOutcome]:
    """Each trial a Ray task that runs its process; outcomes in the order trials finish."""
    import ray

    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {
            "address": address or "local",
            "log_to_driver": False,  # trials write to their logs; Ray's own warnings still show
            "logging_level": "warning",
        }
        if address is None:  # a new local instance: no dashboard, no network
            kwargs |= {"num_cpus": num_cpus, "include_dashboard": False}
        with _environ(RAY_USAGE_STATS_ENABLED="0"):
            ray.init(**kwargs)
    task = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial)(run_trial)
    refs = {task.remote(t, log, dict(env)): (t, log) for t, log in zip(trials, logs, strict=True)}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            [ref] = done
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as e:  # the task, not the trial, failed
                t, log = refs[ref]
                words = str(e).strip().splitlines() or [type(e).__name__]
                outcome = TrialOutcome(t, "train", None, 0.0, log, f"Ray: {words[0]}")
            yield outcome
    finally:
        for ref in pending:  # interrupted: the tasks end their trials' processes
            ray.cancel(ref)
        if started:
            ray.shutdown()


# -- the sweep -----------------------------------------------------------------------------


def _finished(trial: Trial) -> bool:
    from mbrlax.training.experiment import SUMMARY_FILE

    return (trial.run_dir / SUMMARY_FILE).is_file()


def _write_spec(cfg: SweepConfig, trials: Sequence[Trial]) -> Path:
    """Save the grid as ``OUT/sweep.json``, refusing an ``OUT`` whose trials ran other args."""
    out = Path(cfg.out)
    path = out / SWEEP_FILE
    if path.is_file():
        before = _read_json(path).get("fixed")
        if before is not None and list(before) != list(cfg.fixed):
            raise SweepError(
                f"{out} holds a sweep whose trials ran with other train args "
                f"({shlex.join(before) or 'none'}; now: {shlex.join(cfg.fixed) or 'none'}). Its "
                "finished trials would be skipped and its unfinished ones resumed with the old "
                "args: choose another --out, or pass the same train args."
            )
    out.mkdir(parents=True, exist_ok=True)
    spec = cfg.as_dict() | {
        "trials": [{"name": t.name, "command": t.command} for t in trials],
    }
    write_json_atomic(path, spec)
    return path


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise SweepError(f"{path} is not valid JSON ({e}); move it away to start over.") from None


def _check_thresholds(cfg: SweepConfig, thresholds: Thresholds) -> None:
    for env in thresholds.per_env:
        if env not in cfg.envs:
            close = difflib.get_close_matches(env, cfg.envs, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SweepError(
                f"threshold given for env {env!r}, which the sweep does not run; envs: "
                f"{', '.join(cfg.envs)}.{hint}"
            )


def summarise_trials(
    trials: Sequence[Trial], thresholds: Thresholds | None = None
) -> list[GroupSummary]:
    """``mbrlax.analysis.compare.summarise`` per option combination, the algorithm column
    labelled with the combination (``pets[population=16]``), so that combinations are not pooled."""
    thresholds = thresholds or Thresholds()
    by_group: dict[str, list[Trial]] = {}
    for t in trials:
        by_group.setdefault(t.group, []).append(t)
    summaries = []
    for group, members in by_group.items():
        envs = {t.env for t in members}
        present = Thresholds(
            thresholds.default, {e: v for e, v in thresholds.per_env.items() if e in envs}
        )
        for s in summarise([t.run_dir for t in members], present):
            summaries.append(dataclasses.replace(s, algo=group) if group != s.algo else s)
    return summaries


def _plot(cfg: SweepConfig, trials: Sequence[Trial]) -> list[Path]:
    """``sweep.png`` (one curve per algorithm and env), or one PNG per option combination:
    ``mbrlax.analysis.plotting`` groups runs by algorithm and env only."""
    from mbrlax.analysis.plotting import plot_learning_curves

    by_label: dict[str, list[Trial]] = {}
    for t in trials:
        by_label.setdefault(t.label, []).append(t)
    paths = []
    for label, members in by_label.items():
        name = f"sweep-{_clean(label.replace(' ', '-'))}.png" if label else PLOT_FILE
        title = f"Sweep {Path(cfg.out).name}" + (f": {label}" if label else "")
        paths.append(plot_learning_curves([t.run_dir for t in members], cfg.out / name, title))
    return paths


def run_sweep(
    cfg: SweepConfig,
    backend: Backend = "auto",
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    compile_cache: bool = True,
    thresholds: Thresholds | None = None,
    log: Callable[[str], None] = print,
) -> SweepResult:
    """Run every trial of ``cfg`` that has not finished, then compare the finished ones.

    Args:
        cfg: the grid.
        backend: ``"ray"`` (each trial a Ray task), ``"process"`` (trials one after another)
            or ``"auto"`` (Ray when it is installed).
        address: the Ray cluster to use (``"auto"``: the one ``ray start`` made on this
            machine; ``"ray://HOST:10001"``); None starts a local Ray instance, ended at the
            end. A cluster's nodes need mbrlax installed and ``cfg.out`` on a shared filesystem.
        num_cpus: CPUs of the local Ray instance (None: all of this machine's).
        cpus_per_trial: CPUs Ray reserves for each trial (how many run at once).
        gpus_per_trial: GPUs Ray reserves for each trial (fractions share one GPU).
        compile_cache: share a JAX compilation cache between trials (see ``trial_env``).
        thresholds: ``mbrlax.analysis.compare.Thresholds`` for the steps-to-threshold columns.
        log: where progress lines go.

    Raises ``SweepError`` before any trial starts when the grid, the backend or a trial's
    train args are wrong; failed trials are reported in the result, never raised.
    """
    thresholds = thresholds or Thresholds()
    which = choose_backend(backend, address)
    if which == "process" and (num_cpus is not None):
        raise SweepError("--num-cpus sizes a local Ray instance; it needs --backend ray.")
    if address is not None and num_cpus is not None:
        raise SweepError("--num-cpus sizes a new local Ray instance; drop it with --address.")
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise SweepError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0.")
    trials = expand(cfg)
    _check_thresholds(cfg, thresholds)
    validate(trials)
    cfg = dataclasses.replace(cfg, out=Path(cfg.out).absolute())
    files = [_write_spec(cfg, trials)]

    done = [t for t in trials if _finished(t)]
    todo = [t for t in trials if not _finished(t)]
    outcomes = {t.run_dir: TrialOutcome(t, "skip", None, 0.0, _log_path(cfg, t)) for t in done}
    where = f"Ray ({address or 'local'})" if which == "ray" else "one process after another"
    log(
        f"Sweep of {_plural(len(trials), 'trial')} into {cfg.out}: {len(done)} finished earlier "
        f"(skipped), "
        f"{len(todo)} to run on {where}."
    )
    if which == "process" and backend == "auto" and todo:
        log(f"(Ray is not installed, so trials run one at a time; {RAY_HINT} to run them at once.)")
    env = trial_env(cfg.out, compile_cache, parallel=which == "ray")
    logs = [_log_path(cfg, t) for t in todo]
    if which == "ray":
        stream = _run_on_ray(todo, logs, env, address, num_cpus, cpus_per_trial, gpus_per_trial)
    else:
        stream = _run_in_processes(todo, logs, env)
    for i, outcome in enumerate(stream, start=1):
        outcomes[outcome.trial.run_dir] = outcome
        log(_progress_line(i, len(todo), outcome))

    ordered = tuple(outcomes[t.run_dir] for t in trials)
    finished = [o.trial for o in ordered if o.ok]
    summaries: list[GroupSummary] = []
    table = ""
    if finished:
        summaries = summarise_trials(finished, thresholds)
        table = format_compare_table(summaries)
        csv_path = cfg.out / SUMMARY_CSV
        atomic_write_text(csv_path, summaries_to_csv(summaries))
        files += [csv_path, *_plot(cfg, finished)]
    return SweepResult(cfg, ordered, tuple(summaries), table, tuple(files))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _log_path(cfg: SweepConfig, trial: Trial) -> Path:
    return Path(cfg.out).absolute() / LOG_DIR / f"{trial.name}.log"


def _progress_line(i: int, n: int, o: TrialOutcome) -> str:
    head = f"[{i}/{n}] {o.trial.name}:"
    if o.ok:
        verb = "resumed and finished" if o.action == "resume" else "finished"
        return f"{head} {verb} in {o.seconds:.1f} s"
    return f"{head} FAILED after {o.seconds:.1f} s: " + o.error.replace("\n", "\n    ")
