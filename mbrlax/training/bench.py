"""Benchmark results files: what a benchmark measured, by which command, on which commit and
machine, and the README tables and curves rendered from them.

Every benchmark in ``benchmarks/`` ends by writing ``benchmarks/results/<name>.json``
(:func:`write_results`)::

    {
      "schema": 1,
      "benchmark": "pets_sample_efficiency",
      "command": "python benchmarks/pets_sample_efficiency.py --seeds 0 1 2",
      "commit": {"sha": "a8d057e...", "dirty": false},
      "date": "2026-11-20T14:03:11+00:00",
      "machine": {"cpu": "AMD EPYC 7B13", "cores": 2, "jax": "0.7.2", "backend": "cpu", ...},
      "tables": {"summary": {"columns": ["env", "seeds", ...], "rows": [["Pendulum-v1", 3, ...]]}},
      "runs": [{"series": "pets", "algo": "pets", "env": "Pendulum-v1", "seed": 0,
                "run_dir": "/home/me/mbrlax-bench/...", "env_steps": [200, 400, ...],
                "eval_return": [-1200.5, ...], "evaluated": true, "wall_seconds": 240.2}],
      "extra": {...}
    }

``tables`` hold plain values (numbers already rounded for reading, strings, ``null`` for a
value that does not exist); ``runs`` hold one learning curve per seed of a learning benchmark.
``benchmarks/make_tables.py`` renders each table into the README between the markers
``<!-- bench:NAME:TABLE -->`` and ``<!-- /bench:NAME:TABLE -->`` (:func:`replace_tables`),
with a line saying the command, commit, date and machine, and draws every file's curves
(:func:`plot_results`). A results file holds what its last command measured: rerun the
command the README shows to regenerate it.

Learning benchmarks run their seeds through ``mbrlax sweep`` (:func:`run_seeds`): every seed
is an ordinary run directory, by default under ``~/mbrlax-bench/<benchmark>/`` (outside the
work tree), so that re-running the same benchmark command continues it: finished trials are
skipped, unfinished ones resumed with ``mbrlax resume``, and the results file is rewritten from
the run directories' ``metrics.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import difflib
import importlib.metadata
import math
import os
import platform
import re
import shlex
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mbrlax.analysis.compare import load_run, mean_curve
from mbrlax.errors import BenchmarkError
from mbrlax.training import logger
from mbrlax.training.logger import to_jsonable, write_json_atomic

SCHEMA_VERSION = 1
RESULTS_DIR = Path("benchmarks") / "results"
"""Where results files go, relative to the repository root."""
RUNS_ROOT = Path("~") / "mbrlax-bench"
"""Where benchmarks' run directories go by default (``--out`` overrides)."""

_NAME = re.compile(r"^[\w.-]+$")
_MARKER = re.compile(
    r"<!-- bench:(?P<name>[\w.-]+):(?P<table>[\w.-]+) -->\n"
    r"(?P<body>.*?)"
    r"<!-- /bench:(?P=name):(?P=table) -->",
    re.DOTALL,
)
_OPENING = re.compile(r"<!-- (/?)bench:([\w.-]+):([\w.-]+) -->")


# -- where and what ---------------------------------------------------------------------------


def repo_root() -> Path:
    """The repository this module belongs to (the folder holding ``benchmarks/``)."""
    return Path(__file__).resolve().parents[2]  # mbrlax/training/bench.py


def default_results_dir() -> Path:
    """``<repo>/benchmarks/results``, wherever the command is run from."""
    return repo_root() / RESULTS_DIR


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU model and cores, Python and library versions,
    JAX's default backend and device (this starts JAX's backend if it had not started)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "mujoco": _version("mujoco"),
        "backend": None,
        "device": None,
    }
    try:
        import jax

        info["backend"] = jax.default_backend()
        info["device"] = jax.devices()[0].device_kind
        info["device_count"] = jax.device_count()
    except Exception as e:  # a broken accelerator setup must not lose the results
        info["backend"] = f"unavailable ({type(e).__name__})"
    return info


def describe_machine(machine: Mapping[str, Any]) -> str:
    """One short phrase: ``"AMD EPYC 7B13, 2 cores, JAX 0.7.2 on cpu"`` (plus the device
    when it is an accelerator)."""
    words = [str(machine.get("cpu") or "unknown CPU")]
    if machine.get("cores"):
        words.append(f"{machine['cores']} cores")
    jax_part = f"JAX {machine['jax']}" if machine.get("jax") else "JAX"
    backend = machine.get("backend")
    if backend:
        jax_part += f" on {backend}"
        if backend not in ("cpu",) and machine.get("device"):
            jax_part += f" ({machine['device']})"
    words.append(jax_part)
    return ", ".join(words)


def git_commit(root: str | Path | None = None) -> dict[str, Any]:
    """``{"sha": ..., "dirty": ...}`` of the repository at ``root`` (default: this one).

    ``dirty`` says whether tracked files differ from the commit, leaving out the results files
    (a benchmark rewrites them), the docs and other Markdown (:data:`logger.NOT_CODE`). Outside
    a git work tree, or without git, both are None.
    """
    root = Path(root) if root is not None else repo_root()
    return logger.git_commit(root, exclude=logger.NOT_CODE)


def command_line(argv: Sequence[str] | None = None, root: str | Path | None = None) -> str:
    """The command that ran, as a shell string that reruns it from the repository root:
    ``python benchmarks/x.py --opt 1`` (``argv`` defaults to ``sys.argv``). ``--results-dir``
    is left out: where the file was written is not part of what was measured, and the rerun
    should write where the tables are read from."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return "python"
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--results-dir":
            skip = True
        elif not arg.startswith("--results-dir="):
            kept.append(arg)
    argv = kept
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(Path(root) if root else repo_root())
    except ValueError:
        pass  # outside the repository: as given
    return shlex.join(["python", script.as_posix(), *argv[1:]])


# -- writing and reading results --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of a results file: named columns and rows of plain values.

    Attributes:
        columns: the column headers.
        rows: one tuple per row, one value per column (a number, a string, a bool or None).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"a row has {len(row)} values for {len(self.columns)} columns "
                    f"({', '.join(self.columns)}): {row!r}."
                )

    @classmethod
    def of(cls, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
        """A table from any sequences (lists from a script's loop)."""
        return cls(tuple(columns), tuple(tuple(r) for r in rows))

    def as_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "rows": [list(r) for r in self.rows]}


def _plain(obj: Any) -> Any:
    """JSON values with NaN and infinities as None (JSON has no NaN), arrays as lists."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    obj = to_jsonable(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def curve_record(run_dir: str | Path, series: str | None = None) -> dict[str, Any]:
    """One run directory's learning curve, as a results file's ``runs`` entry.

    ``env_steps`` and ``eval_return`` are the evaluations (a run without any evaluation gives
    its training returns, and ``evaluated`` is false; see ``mbrlax.analysis.compare.Run.evals``);
    ``series`` names the curve's group in tables and plots (default: the algorithm).
    """
    run = load_run(run_dir)
    steps, returns = run.evals
    walls = run.wall_seconds[np.isfinite(run.wall_seconds)]
    return {
        "series": series or run.algo,
        "algo": run.algo,
        "env": run.env,
        "seed": run.seed,
        "run_dir": str(Path(run_dir).absolute()),
        "env_steps": [int(s) for s in steps],
        "eval_return": [float(v) for v in returns],
        "evaluated": run.evaluated,
        "wall_seconds": float(walls[-1]) if walls.size else None,
        "code": logger.read_code_records(run_dir),
    }


def write_results(
    name: str,
    tables: Mapping[str, Table],
    runs: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
    results_dir: str | Path | None = None,
    argv: Sequence[str] | None = None,
) -> Path:
    """Write ``<results_dir>/<name>.json`` atomically (temp file + rename); returns its path.

    Args:
        name: the results file's name (letters, digits, ``_``, ``-``, ``.``), as the README's
            markers name it.
        tables: named tables (:class:`Table`).
        runs: per-seed learning curves (:func:`curve_record`), for learning benchmarks.
        extra: anything else worth keeping (settings, peaks, raw per-seed values).
        results_dir: default ``benchmarks/results`` of this repository.
        argv: the command's arguments (default ``sys.argv``), recorded as a shell string.
    """
    if not _NAME.match(name):
        raise ValueError(f"results name {name!r}: use letters, digits, '_', '-' and '.' only.")
    for table in tables:
        if not _NAME.match(table):
            raise ValueError(f"table name {table!r}: use letters, digits, '_', '-' and '.' only.")
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": SCHEMA_VERSION,
        "benchmark": name,
        "command": command_line(argv),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "tables": {k: t.as_dict() for k, t in tables.items()},
        "runs": list(runs),
        "extra": dict(extra or {}),
    }
    path = folder / f"{name}.json"
    write_json_atomic(path, _plain(payload))
    print(f"results: {path}", flush=True)
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """A results file, checked for the keys the renderers need (``ValueError`` otherwise)."""
    import json

    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); rerun its benchmark.") from None
    missing = [k for k in ("benchmark", "command", "tables") if k not in results]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a benchmark results file.")
    if results.get("schema", 1) > SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema {results['schema']}, newer than this mbrlax's "
            f"{SCHEMA_VERSION}: update mbrlax."
        )
    return results


def load_all_results(results_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` of ``results_dir`` by its name (file stem), sorted by name."""
    folder = Path(results_dir)
    if not folder.is_dir():
        return {}
    return {p.stem: read_results(p) for p in sorted(folder.glob("*.json"))}


# -- seeds through the sweep ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """How a benchmark runs its trials (``mbrlax.training.sweep.run_sweep``'s arguments).

    Attributes:
        out: the benchmark's folder of run directories; each group of trials that share their
            train args is a sweep in a folder of its own below it.
        backend: ``"auto"`` (Ray when installed), ``"ray"`` or ``"process"``.
        num_cpus: CPUs of a local Ray instance (None: all).
        cpus_per_trial: CPUs Ray reserves for each trial.
        gpus_per_trial: GPUs Ray reserves for each trial.
        train_args: extra ``mbrlax train`` args for every trial (what follows ``--``).
    """

    out: Path
    backend: str = "auto"
    num_cpus: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    train_args: tuple[str, ...] = ()


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    """``--results-dir`` (default: ``benchmarks/results`` of this repository)."""
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=default_results_dir(),
        help="where the results file goes (default: %(default)s)",
    )


def add_sweep_arguments(parser: argparse.ArgumentParser, benchmark: str) -> None:
    """``--out``, ``--backend``, ``--num-cpus``, ``--cpus-per-trial``, ``--gpus-per-trial`` and
    ``--results-dir``; ``mbrlax train`` args for every trial go after ``--``."""
    default_out = RUNS_ROOT / benchmark
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder of the run directories (default: {default_out}, outside the work tree); "
        "rerunning the same command with the same --out continues the runs",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "ray", "process"),
        help="auto: trials as Ray tasks when Ray is installed, else one by one",
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0)
    add_results_argument(parser)
    parser.epilog = (
        parser.epilog + "\n" if parser.epilog else ""
    ) + "Arguments after `--` go to `mbrlax train` for every trial (e.g. -- --episodes 2)."


def split_train_args(argv: Sequence[str] | None = None) -> tuple[list[str], tuple[str, ...]]:
    """``(the benchmark's own args, mbrlax train args)``, split at the first ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], tuple(argv[i + 1 :])
    return argv, ()


def sweep_settings(
    args: argparse.Namespace, benchmark: str, train_args: Sequence[str] = ()
) -> SweepSettings:
    """The :class:`SweepSettings` of parsed :func:`add_sweep_arguments` options."""
    out = args.out if args.out is not None else RUNS_ROOT / benchmark
    return SweepSettings(
        out=Path(out).expanduser().absolute(),
        backend=args.backend,
        num_cpus=args.num_cpus,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        train_args=tuple(train_args),
    )


def _is_subcommand(arg: str) -> bool:
    return (
        ":" in arg and not arg.startswith("-") and re.match(r"^[\w.-]+:[\w.-]+$", arg) is not None
    )


def merge_train_args(*arg_lists: Sequence[str]) -> tuple[str, ...]:
    """Concatenate ``mbrlax train`` arg lists so that every list's plain flags come before any
    subcommand (``agent.planner:cem ...``): tyro gives a flag after a subcommand to it."""
    heads: list[str] = []
    tails: list[str] = []
    for args in arg_lists:
        args = list(args)
        cut = next((i for i, a in enumerate(args) if _is_subcommand(a)), len(args))
        heads += args[:cut]
        tails += args[cut:]
    return tuple(heads + tails)


def run_seeds(
    settings: SweepSettings,
    group: str,
    algo: str,
    envs: Sequence[str],
    seeds: Sequence[int],
    fixed: Sequence[str] = (),
) -> list[Path]:
    """Train ``algo`` on every env and seed through ``mbrlax sweep``; the run directories.

    The trials go to ``settings.out / group`` (one sweep per group: trials of a sweep share
    their train args ``fixed`` + ``settings.train_args``). Running it again continues it:
    finished trials are skipped, unfinished ones resumed. Returns the run directories in the
    order env by env, seed by seed. Raises :class:`BenchmarkError` when a trial failed (the
    others are kept: rerun the command to retry it).
    """
    from mbrlax.training.sweep import SweepConfig, run_sweep

    if not _NAME.match(group):
        raise ValueError(f"group {group!r}: use letters, digits, '_', '-' and '.' only.")
    cfg = SweepConfig(
        envs=tuple(envs),
        seeds=tuple(int(s) for s in seeds),
        out=settings.out / group,
        algos=(algo,),
        fixed=merge_train_args(fixed, settings.train_args),
    )
    result = run_sweep(
        cfg,
        backend=settings.backend,  # type: ignore[arg-type]
        num_cpus=settings.num_cpus if settings.backend != "process" else None,
        cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial,
    )
    if result.failed:
        lines = "\n".join(f"  {o.trial.name}: {o.error}" for o in result.failed)
        raise BenchmarkError(
            f"{len(result.failed)} of {len(result.outcomes)} trials in {cfg.out} failed:\n{lines}"
            "\nFix the cause and rerun the same command: finished trials are skipped, the "
            "others resumed or tried again."
        )
    by_key = {(o.trial.env, o.trial.seed): o.trial.run_dir for o in result.outcomes}
    return [by_key[(env, int(seed))] for env in envs for seed in seeds]


# -- what a finished run left -----------------------------------------------------------------


def merged_runs(previous: str | Path, runs: list[dict]) -> list[dict]:
    """``runs`` plus the runs of ``previous`` (a results file, if it exists) of other (algo,
    seed) pairs: seeds measured in different sessions add up, each keeping its commit."""
    previous = Path(previous)
    if not previous.exists():
        return runs
    have = {(r["algo"], r["seed"]) for r in runs}
    old = [r for r in read_results(previous).get("runs", []) if (r["algo"], r["seed"]) not in have]
    return sorted(old + runs, key=lambda r: (r["algo"], r["seed"]))


def write_seed_results(
    name: str,
    run_dirs: Sequence[str | Path],
    table: Any,
    merge: bool,
    extra: Mapping[str, Any] | None = None,
    results_dir: str | Path | None = None,
    argv: Sequence[str] | None = None,
    variant: str | None = None,
) -> Path:
    """The results file ``name`` of a learning benchmark: one curve per run directory (each
    with the commit it was started at, and in ``code`` the code of every start and resume),
    merged with an earlier file's other seeds when
    ``merge``, and ``table(runs)`` as its ``summary``. A ``variant`` (runs with other
    training arguments) names each run's series ``"<algo> (<variant>)"``."""
    runs = [curve_record(d) for d in run_dirs]
    if variant:
        for run in runs:
            run["series"] = f"{run['algo']} ({variant})"
    mine = git_commit()
    for run in runs:  # where it started (older runs did not say: the commit writing this)
        start = run["code"][0] if run["code"] else mine
        run["commit"] = {"sha": start["sha"], "dirty": start["dirty"]}
    if merge:
        runs = merged_runs(Path(results_dir or default_results_dir()) / f"{name}.json", runs)
    return write_results(
        name, {"summary": table(runs)}, runs=runs, extra=extra, results_dir=results_dir, argv=argv
    )


def final_agent(run_dir: str | Path, key_seed: int = 0) -> tuple[Any, Any, Any]:
    """``(experiment, agent, state)`` of a finished run: the agent made from the run's config,
    its state from ``agent.init`` with the run's final model (``final_model.eqx``) loaded."""
    import equinox as eqx
    import jax

    from mbrlax.envs import make_env
    from mbrlax.training.experiment import MODEL_FILE, load_experiment

    run_dir = Path(run_dir)
    exp = load_experiment(run_dir)
    env = make_env(exp.env)
    try:
        agent = exp.make_agent(env.spec)
    finally:
        env.close()
    state = agent.init(jax.random.key(key_seed))
    template = exp.final_model(state)
    if template is not None:
        path = run_dir / MODEL_FILE
        if not path.is_file():
            raise BenchmarkError(
                f"{path} is missing: the run has not finished; rerun to resume it."
            )
        state = exp.with_final_model(state, eqx.tree_deserialise_leaves(path, template))
    return exp, agent, state


def final_buffer(run_dir: str | Path) -> Any:
    """The replay buffer of a run's newest checkpoint (the runner checkpoints at the end, so a
    finished run's holds every transition it stored)."""
    from mbrlax.data.buffer import ReplayBuffer
    from mbrlax.envs import make_env
    from mbrlax.training.checkpoint import CheckpointManager
    from mbrlax.training.experiment import load_experiment
    from mbrlax.training.loop import _example_transition, buffer_capacity  # the runner's template

    exp = load_experiment(run_dir)
    env = make_env(exp.env)
    spec = env.spec
    env.close()
    template = ReplayBuffer.create(_example_transition(spec), buffer_capacity(exp.runner, spec))
    restored = CheckpointManager(run_dir).restore_latest({"buffer": template})
    if restored is None:
        raise BenchmarkError(f"{run_dir} has no checkpoint: rerun the benchmark to resume it.")
    return restored.trees["buffer"]


# -- rendering ---------------------------------------------------------------------------------


def format_cell(value: Any) -> str:
    """A table value as Markdown text: None is ``-``, floats as stored (scripts round them)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown_table(table: Mapping[str, Any]) -> str:
    """A results file's table (``{"columns": [...], "rows": [[...]]}``) as a Markdown table."""
    columns = [format_cell(c) for c in table["columns"]]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table["rows"]:
        lines.append("| " + " | ".join(format_cell(v) for v in row) + " |")
    return "\n".join(lines)


def provenance_line(results: Mapping[str, Any]) -> str:
    """``"`command` (commit abc1234, 2026-11-20, <machine>)"``: how to get the numbers again."""
    commit = results.get("commit") or {}
    sha = commit.get("sha")
    words = [f"commit {sha[:7]}" if sha else "commit unknown"]
    if commit.get("dirty"):
        words[0] += " with local changes"
    if results.get("date"):
        words.append(str(results["date"])[:10])
    if results.get("machine"):
        words.append(describe_machine(results["machine"]))
    return f"`{results['command']}` ({', '.join(words)})"


def render_block(results: Mapping[str, Any], table: str) -> str:
    """What goes between a table's markers: the table and its provenance line."""
    tables = results["tables"]
    if table not in tables:
        close = difflib.get_close_matches(table, list(tables), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"results {results['benchmark']!r} has no table {table!r}; it has "
            f"{', '.join(tables) or 'none'}.{hint}"
        )
    return f"\n{render_markdown_table(tables[table])}\n\n{provenance_line(results)}\n\n"


@dataclasses.dataclass(frozen=True)
class Rendered:
    """What :func:`replace_tables` did to one text.

    Attributes:
        text: the text with every table that has a results file regenerated.
        replaced: ``NAME:TABLE`` of the tables rendered from results files.
        pending: ``NAME:TABLE`` of marked tables without a results file (left as they are).
    """

    text: str
    replaced: tuple[str, ...]
    pending: tuple[str, ...]


def check_markers(text: str, where: str = "the text") -> None:
    """Raise ``ValueError`` for a marker without its partner, or markers nested or crossed."""
    open_: tuple[str, str] | None = None
    for m in _OPENING.finditer(text):
        closing, key = m.group(1) == "/", (m.group(2), m.group(3))
        line = text.count("\n", 0, m.start()) + 1
        if not closing and open_ is None:
            open_ = key
        elif closing and open_ == key:
            open_ = None
        else:
            expected = f"<!-- /bench:{open_[0]}:{open_[1]} -->" if open_ else "an opening marker"
            raise ValueError(f"{where}, line {line}: {m.group(0)} where {expected} was expected.")
    if open_ is not None:
        raise ValueError(f"{where}: <!-- bench:{open_[0]}:{open_[1]} --> is never closed.")


def replace_tables(
    text: str, results: Mapping[str, Mapping[str, Any]], where: str = "the text"
) -> Rendered:
    """Regenerate every marked table of ``text`` whose results file is in ``results``.

    A table sits between ``<!-- bench:NAME:TABLE -->`` and ``<!-- /bench:NAME:TABLE -->``,
    each on a line of its own; NAME is a results file's name (``results`` key), TABLE one of
    its tables. Marked tables whose results file does not exist are left as they are and
    listed in ``pending``. Raises ``ValueError`` for unpaired markers and ``KeyError`` for a
    table that the results file lacks.
    """
    check_markers(text, where)
    replaced: list[str] = []
    pending: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        name, table = m.group("name"), m.group("table")
        if name not in results:
            pending.append(f"{name}:{table}")
            return m.group(0)
        replaced.append(f"{name}:{table}")
        block = render_block(results[name], table)
        return f"<!-- bench:{name}:{table} -->\n{block}<!-- /bench:{name}:{table} -->"

    new = _MARKER.sub(substitute, text)
    return Rendered(new, tuple(replaced), tuple(pending))


def plot_results(results: Mapping[str, Any], path: str | Path) -> Path | None:
    """The learning curves of a results file as a PNG, one panel per env: the mean eval return
    over seeds of each series in bold with a band of +- one standard error, every seed thin.
    Seeds evaluated at different steps are interpolated onto a common grid
    (``mbrlax.analysis.compare.mean_curve``). Published curves in the file's
    ``extra["reference_curves"]`` (entries like ``runs``') are drawn the same way, dashed.
    Returns None (and writes nothing) without any curve."""
    runs = [r for r in results.get("runs", []) if r.get("env_steps")]
    if not runs:
        return None
    reference = [
        r for r in results.get("extra", {}).get("reference_curves", []) if r.get("env_steps")
    ]
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    from mbrlax.analysis.plotting import save_png_atomic

    envs = list(dict.fromkeys(r["env"] for r in runs))
    series = list(dict.fromkeys(r["series"] for r in [*runs, *reference]))
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.2), dpi=110, squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for i, name in enumerate(series):
            members = [r for r in runs if r["env"] == env and r["series"] == name]
            style = "-"
            if not members:
                members = [r for r in reference if r["env"] == env and r["series"] == name]
                style = "--"
            if not members:
                continue
            curves = [
                (np.asarray(r["env_steps"], float), _floats(r["eval_return"])) for r in members
            ]
            for steps, values in curves:
                ax.plot(steps, values, style, color=f"C{i}", alpha=0.3, lw=0.8)
            stats = mean_curve(curves)
            label = f"{name} ({len(members)} seed{'s' if len(members) > 1 else ''})"
            ax.plot(stats.env_steps, stats.mean, style, color=f"C{i}", lw=2.2, label=label)
            if len(members) > 1:
                ax.fill_between(
                    stats.env_steps,
                    stats.mean - stats.se,
                    stats.mean + stats.se,
                    color=f"C{i}",
                    alpha=0.2,
                )
        ax.set_title(env)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("eval return (mean ± 1 s.e. over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    # The command under the panels' titles, wrapped to the figure's width.
    command = textwrap.wrap(results["command"], width=100 * len(envs), break_on_hyphens=False)
    fig.suptitle("\n".join([results["benchmark"], *command]), fontsize=8)
    fig.tight_layout()
    try:
        return save_png_atomic(fig, path)
    finally:
        plt.close(fig)


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


# -- small statistics the benchmarks share ----------------------------------------------------


def mean_or_none(values: Iterable[float | None], digits: int = 1) -> float | None:
    """The mean of the finite values, rounded; None when there are none."""
    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(x)), digits) if x else None


def mean_se_text(values: Sequence[float], digits: int = 1) -> str | None:
    """``"mean +- se"`` over seeds (just the mean for one seed); None without values."""
    from mbrlax.analysis.compare import mean_and_se

    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not x:
        return None
    mean, se = mean_and_se(x)
    return f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if math.isfinite(se) else "")


def per_seed_text(values: Sequence[Any], digits: int = 0, none: str = "never") -> str:
    """Per-seed values joined as ``"a / b / c"`` (``none`` for a missing one)."""

    def one(v: Any) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return none
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    return " / ".join(one(v) for v in values)


def slug(text: str) -> str:
    """``text`` as a file or folder name: ``mbrlax/Pendulum-v0`` -> ``mbrlax_Pendulum-v0``."""
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "_"
