"""Sweeps: the grid's trials and their commands, both backends, continuing a sweep, bad input.

The trials that really train are tiny PETS runs (one random episode, one planned evaluation);
most of each is JAX compiling, so they share one compilation cache (the sweep's own default is
one cache per sweep folder).
"""

import csv
import json
import re

import pytest
import tyro
from conftest import tiny_pets_args

from mbrlax.cli import main
from mbrlax.training.sweep import SweepConfig, SweepError, _short_names, expand, parse_option

TINY = [*tiny_pets_args(1, warmup=150)]
ENVS = ["Pendulum-v1", "mbrlax/Pendulum-v0"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture
def cache(shared_cache, monkeypatch):
    # A compilation cache set by the user wins over the sweep's own: here, one for the module.
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(shared_cache))


def group_lines(out: str) -> dict[str, str]:
    """env -> seeds column of the comparison table's lines."""
    return dict(re.findall(r"^pets\s+(\S+)\s+(\d+)\s", out, flags=re.M))


# -- the grid ------------------------------------------------------------------------------


def test_expand_counts_names_and_commands(tmp_path):
    from mbrlax.planners import CEM, ICEM
    from mbrlax.training.experiment import PETSExperiment

    cfg = SweepConfig(
        envs=("Pendulum-v1", "mbrlax/Pendulum-v0"),
        seeds=(0, 1, 2),
        out=tmp_path / "s",
        options={"--agent.planner.population": ("16", "32"), "agent.planner:": ("cem", "icem")},
        fixed=(
            "--episodes",
            "2",
            "agent.planner:cem",
            "--agent.planner.horizon",
            "4",
            "--agent.planner.num-elites",
            "4",
        ),
    )
    trials = expand(cfg)
    assert len(trials) == 2 * 3 * 2 * 2
    assert len({t.run_dir for t in trials}) == len(trials)
    assert [t.seed for t in trials] == [0] * 8 + [1] * 8 + [2] * 8  # seed by seed
    assert {t.group for t in trials} == {
        f"pets[population={p} planner={c}]" for p in (16, 32) for c in ("cem", "icem")
    }
    [t] = [
        t
        for t in trials
        if (t.seed, t.env, t.label) == (2, "mbrlax/Pendulum-v0", "population=32 planner=icem")
    ]
    assert t.run_dir == (
        tmp_path / "s" / "pets-mbrlax_Pendulum-v0-population=32-planner=icem-seed2"
    )
    # tyro applies a flag to the subcommand before it: the planner flags follow its choice,
    # and the grid's value comes after the fixed one (the last one wins).
    assert t.argv == (
        "train",
        "pets",
        "--env",
        "mbrlax/Pendulum-v0",
        "--seed",
        "2",
        "--run-dir",
        str(t.run_dir),
        "--episodes",
        "2",
        "agent.planner:icem",
        "--agent.planner.horizon",
        "4",
        "--agent.planner.num-elites",
        "4",
        "--agent.planner.population",
        "32",
    )
    for t in trials:  # every command is one `mbrlax train` takes, meaning what the grid says
        exp = tyro.cli(PETSExperiment, args=list(t.argv[2:]), default=PETSExperiment.preset(t.env))
        options = dict(t.options)
        assert (exp.env, exp.seed, exp.run_dir) == (t.env, t.seed, t.run_dir)
        assert exp.runner.episodes == 2 and exp.agent.planner.horizon == 4
        assert exp.agent.planner.population == int(options["--agent.planner.population"])
        assert type(exp.agent.planner) is {"cem": CEM, "icem": ICEM}[options["agent.planner:"]]


def test_expand_without_options_and_multi_word_values(tmp_path):
    cfg = SweepConfig(
        envs=("Pendulum-v1",),
        seeds=(3,),
        out=tmp_path,
        algos=("pets",),
        options={"--agent.model.hidden-sizes": ("16 16", "8")},
        fixed=("--episodes", "1"),
    )
    a, b = expand(cfg)
    assert a.run_dir.name == "pets-Pendulum-v1-hidden-sizes=16_16-seed3"
    assert a.argv[8:] == ("--episodes", "1", "--agent.model.hidden-sizes", "16", "16")
    assert b.argv[-2:] == ("--agent.model.hidden-sizes", "8")
    plain = expand(SweepConfig(envs=("Pendulum-v1",), seeds=(0, 1), out=tmp_path))
    assert [t.name for t in plain] == ["pets-Pendulum-v1-seed0", "pets-Pendulum-v1-seed1"]
    assert [t.group for t in plain] == ["pets", "pets"]


def test_option_names_are_the_shortest_unambiguous_suffix():
    keys = ["--agent.planner.num-elites", "--agent.model.num-elites", "--agent.num-particles"]
    assert _short_names(keys) == {
        "--agent.planner.num-elites": "planner.num-elites",
        "--agent.model.num-elites": "model.num-elites",
        "--agent.num-particles": "num-particles",
    }


def test_parse_option():
    assert parse_option("agent.planner.population=16,32") == (
        "--agent.planner.population",
        ("16", "32"),
    )
    assert parse_option("--episodes=1") == ("--episodes", ("1",))
    assert parse_option("agent.planner:cem,icem") == ("agent.planner:", ("cem", "icem"))
    for bad in ("population", "agent.planner.population=", "a b=1", "x=1,,2"):
        with pytest.raises(SweepError):
            parse_option(bad)


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "rya"], "rya"),
        (["--option", "population"], "has no values"),
        (["--option", "agent.planner.population=16,"], "empty value"),
        (["--option", "seed=1,2"], "--seed is set by the sweep"),
        (["--num-cpus", "2", "--backend", "process"], "needs --backend ray"),
        (["--threshold", "Pendulum-v2=-200"], "Did you mean 'Pendulum-v1'"),
        (["--algos", "petz"], "Did you mean 'pets'"),
        (["--", "--seed", "3"], "cannot be among the train args"),
        (["--", "--episodez", "3"], "not valid"),
    ],
)
def test_bad_input_exits_2_before_any_trial(tmp_path, capsys, args, message):
    out = tmp_path / "s"
    backend = [] if "--backend" in args else ["--backend", "process"]
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--envs", "Pendulum-v1", "--out", str(out), *backend, *args])
    assert e.value.code == 2
    io = capsys.readouterr()
    assert message in io.out + io.err
    assert not any(out.glob("pets-*"))


def test_empty_grid(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--envs", "--out", str(tmp_path / "s")])
    assert e.value.code == 2
    assert "the grid is empty" in capsys.readouterr().err


def test_ray_asked_for_but_not_installed(tmp_path, capsys, monkeypatch):
    import mbrlax.training.sweep

    monkeypatch.setattr(mbrlax.training.sweep, "ray_available", lambda: False)
    for extra in (["--backend", "ray"], ["--address", "auto"]):
        with pytest.raises(SystemExit) as e:
            main(["sweep", "--envs", "Pendulum-v1", "--out", str(tmp_path / "s"), *extra])
        assert e.value.code == 2
        assert "pip install 'mbrlax[ray]'" in capsys.readouterr().err


def test_a_folder_swept_with_other_train_args_is_refused(tmp_path, capsys):
    out = tmp_path / "s"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"fixed": ["--episodes", "5"]}))
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--envs", "Pendulum-v1", "--out", str(out), "--", "--episodes", "1"])
    assert e.value.code == 2
    assert "other train args (--episodes 5; now: --episodes 1)" in capsys.readouterr().err


# -- running sweeps ------------------------------------------------------------------------


def test_process_backend_runs_then_resumes_and_skips(tmp_path, capsys, cache):
    out = tmp_path / "s"
    cmd = ["sweep", "--envs", *ENVS, "--seeds", "0", "--out", str(out), "--backend", "process"]
    main([*cmd, "--", *TINY])
    io = capsys.readouterr()
    assert "[2/2]" in io.out and "FAILED" not in io.out
    assert group_lines(io.out) == {"Pendulum-v1": "1", "mbrlax/Pendulum-v0": "1"}
    runs = sorted(out.glob("pets-*"))
    assert [r.name for r in runs] == ["pets-Pendulum-v1-seed0", "pets-mbrlax_Pendulum-v0-seed0"]
    for run in runs:
        assert (run / "summary.json").is_file() and (run / "metrics.csv").is_file()
        assert (out / "trial_logs" / f"{run.name}.log").is_file()
    assert (out / "sweep.png").stat().st_size > 1000

    # An unfinished run is resumed, a finished one left alone.
    (runs[1] / "summary.json").unlink()
    before = (runs[0] / "metrics.csv").stat().st_mtime_ns
    main([*cmd, "--", *TINY])
    io = capsys.readouterr()
    assert "1 finished earlier (skipped), 1 to run" in io.out
    assert "[1/1] pets-mbrlax_Pendulum-v0-seed0: resumed and finished" in io.out
    assert (runs[1] / "summary.json").is_file()
    assert (runs[0] / "metrics.csv").stat().st_mtime_ns == before
    log = (out / "trial_logs" / f"{runs[1].name}.log").read_text()
    assert log.count("=== ") == 2 and "mbrlax resume" in log


def test_a_failed_trial_is_reported_and_the_sweep_exits_1(tmp_path, capsys, cache):
    out = tmp_path / "s"
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--envs", "NoSuchEnv-v0", "--out", str(out), "--backend", "process"])
    assert e.value.code == 1
    io = capsys.readouterr()
    assert re.search(r"\[1/1\] pets-NoSuchEnv-v0-seed0: FAILED .*: exit status [12];", io.out)
    assert "NoSuchEnv" in io.out.split("last lines of", 1)[1]  # the trial's own error
    assert "1 of 1 trials failed" in io.err
    assert not (out / "sweep_summary.csv").exists()


# ray.init starts its daemons with a preexec_fn, which JAX warns about because this test process
# has imported JAX; the `mbrlax sweep` command itself never imports JAX, so users do not see it.
# Slow (about 30 s, Ray's start-up): the process backend's test covers the sweep's logic.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_ray_sweep_two_envs_three_seeds_then_rerun_skips(tmp_path, capsys, cache):
    pytest.importorskip("ray")
    out = tmp_path / "sweep"
    grid = ["--envs", *ENVS, "--seeds", "0", "1", "2", "--out", str(out)]
    main(["sweep", *grid, "--backend", "ray", "--num-cpus", "2", "--", *TINY])
    io = capsys.readouterr()
    assert "6 to run on Ray (local)" in io.out and "[6/6]" in io.out
    runs = sorted(out.glob("pets-*"))
    assert len(runs) == 6
    for run in runs:
        assert (run / "metrics.csv").is_file() and (run / "summary.json").is_file()
    assert group_lines(io.out) == {"Pendulum-v1": "3", "mbrlax/Pendulum-v0": "3"}
    with open(out / "sweep_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["env"], r["n_runs"], r["seeds"]) for r in rows] == [
        ("Pendulum-v1", "3", "0 1 2"),
        ("mbrlax/Pendulum-v0", "3", "0 1 2"),
    ]
    assert (out / "sweep.png").stat().st_size > 1000
    spec = json.loads((out / "sweep.json").read_text())
    assert spec["envs"] == ENVS and len(spec["trials"]) == 6

    # Running it again finds every trial finished: nothing runs, the table is the same.
    mtimes = [(r / "metrics.csv").stat().st_mtime_ns for r in runs]
    main(["sweep", *grid, "--backend", "process", "--", *TINY])
    again = capsys.readouterr()
    assert "6 finished earlier (skipped), 0 to run" in again.out and "[1/" not in again.out
    assert group_lines(again.out) == group_lines(io.out)
    assert [(r / "metrics.csv").stat().st_mtime_ns for r in runs] == mtimes


def test_json_written_by_two_processes_at_once_stays_whole(tmp_path):
    """Two sweeps of one benchmark group write the same ``sweep.json`` at once: each write
    goes through a temp file of its own, so neither fails and the file is one of the two."""
    import json
    import multiprocessing as mp

    path = tmp_path / "sweep.json"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert json.loads(path.read_text())["writer"] in (0, 1)
    assert not list(tmp_path.glob("*.tmp"))


def _write_many(path, writer):
    from mbrlax.training.logger import write_json_atomic

    for i in range(300):
        write_json_atomic(path, {"writer": writer, "i": i, "pad": "x" * 10_000})
