"""Benchmark results files and the README tables generated from them (no training)."""

from __future__ import annotations

import importlib.util
import json
import math
import shlex
import subprocess
from pathlib import Path

import pytest

from mbrlax.training import bench
from mbrlax.training.bench import Table
from mbrlax.training.logger import CODE_FILE

ROOT = Path(__file__).resolve().parent.parent


def _make_tables():
    """``benchmarks/make_tables.py`` as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "make_tables", ROOT / "benchmarks" / "make_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_results(results_dir: Path, run_dirs: list[Path] | None = None) -> Path:
    tables = {
        "summary": Table.of(
            ["env", "seeds", "final eval", "reached"],
            [["Pendulum-v1", 2, -150.5, "2/2"], ["mbrlax/Cartpole|x", 2, None, True]],
        )
    }
    runs = [bench.curve_record(d, series="pets") for d in run_dirs or []]
    argv = ["benchmarks/fake.py", "--seeds", "0", "1", "--note", "two words"]
    return bench.write_results(
        "fake", tables, runs, {"nan": math.nan}, results_dir=results_dir, argv=argv
    )


def _fake_run(path: Path, seed: int, evals: list[float]) -> Path:
    """A run directory as `mbrlax train` writes it: config.json and metrics.csv."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(
        json.dumps({"algo": "pets", "env": "Pendulum-v1", "seed": seed})
    )
    lines = ["env_steps,episode,train_return,eval_return,wall_seconds"]
    lines += [f"{200 * (i + 1)},{i + 1},-1000,{v},{10.0 * (i + 1)}" for i, v in enumerate(evals)]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    return path


def test_write_results_schema(tmp_path):
    path = _fake_results(tmp_path)
    assert path == tmp_path / "fake.json"
    assert not list(tmp_path.glob("*.tmp"))  # written through a temp file, then renamed
    data = json.loads(path.read_text())
    assert data["schema"] == bench.SCHEMA_VERSION and data["benchmark"] == "fake"
    # The command reruns from the repository root, arguments quoted as a shell would need.
    assert shlex.split(data["command"]) == [
        "python",
        "benchmarks/fake.py",
        "--seeds",
        "0",
        "1",
        "--note",
        "two words",
    ]
    assert data["tables"]["summary"]["columns"] == ["env", "seeds", "final eval", "reached"]
    assert data["tables"]["summary"]["rows"][1] == ["mbrlax/Cartpole|x", 2, None, True]
    assert data["extra"] == {"nan": None}  # JSON has no NaN
    assert set(data["commit"]) == {"sha", "dirty"}
    assert data["date"][:2] == "20"
    for key in ("cpu", "cores", "python", "jax", "backend", "platform"):
        assert key in data["machine"]
    assert bench.read_results(path)["benchmark"] == "fake"


def test_command_line_leaves_out_the_results_dir(tmp_path):
    root = tmp_path
    script = str(root / "benchmarks" / "x.py")
    for argv in (
        [script, "--results-dir", "/tmp/r", "--seeds", "0"],
        [script, "--results-dir=/tmp/r", "--seeds", "0"],
    ):
        assert bench.command_line(argv, root=root) == "python benchmarks/x.py --seeds 0"
    # A train argument after `--` that merely contains the words stays.
    argv = [script, "--", "--note", "--results-dir-like"]
    assert bench.command_line(argv, root=root).endswith("-- --note --results-dir-like")


def test_git_commit_outside_git_is_none(tmp_path):
    assert bench.git_commit(tmp_path) == {"sha": None, "dirty": None}


def test_only_changes_to_code_make_a_checkout_dirty(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    files = {"mbrlax/a.py": "x = 1\n", "docs/page.md": "a\n", "README.md": "a\n",
             "benchmarks/results/r.json": "{}\n", "Makefile": "all:\n"}  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = bench.git_commit(tmp_path)
    assert len(clean["sha"]) == 40 and clean["dirty"] is False
    for name in ("docs/page.md", "README.md", "benchmarks/results/r.json"):
        (tmp_path / name).write_text("changed\n")
    assert bench.git_commit(tmp_path)["dirty"] is False  # docs and results only
    for name in ("mbrlax/a.py", "Makefile"):
        git("checkout", "--", ".")
        (tmp_path / name).write_text("changed\n")
        assert bench.git_commit(tmp_path)["dirty"] is True, name


def test_bad_names_and_rows_are_refused(tmp_path):
    with pytest.raises(ValueError, match="results name"):
        bench.write_results("a b", {}, results_dir=tmp_path)
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        Table.of(["a", "b", "c"], [[1, 2]])


def test_curve_record_reads_the_run_directory(tmp_path):
    run = _fake_run(tmp_path / "r0", 3, [-900.0, -400.5])
    record = bench.curve_record(run, series="exact reward")
    assert record["series"] == "exact reward" and record["seed"] == 3
    assert record["env_steps"] == [200, 400] and record["eval_return"] == [-900.0, -400.5]
    assert record["evaluated"] and record["wall_seconds"] == 20.0
    assert record["run_dir"] == str(run.absolute())


def test_seed_results_merge_with_an_earlier_file_across_sessions(tmp_path):
    # Seeds measured in different sessions add up; a seed measured again replaces its old run.
    def table(runs):
        return Table.of(["seeds", "last"], [[len(runs), [r["eval_return"][-1] for r in runs]]])

    first = [_fake_run(tmp_path / "s0", 0, [-900.0]), _fake_run(tmp_path / "s1", 1, [-800.0])]
    bench.write_seed_results("seeds", first, table, merge=False, results_dir=tmp_path / "res")
    later = [_fake_run(tmp_path / "s1b", 1, [-100.0]), _fake_run(tmp_path / "s2", 2, [-50.0])]
    path = bench.write_seed_results("seeds", later, table, merge=True, results_dir=tmp_path / "res")
    data = bench.read_results(path)
    assert [(r["seed"], r["eval_return"][-1]) for r in data["runs"]] == [
        (0, -900.0),
        (1, -100.0),
        (2, -50.0),
    ]
    assert all("commit" in r for r in data["runs"])
    # A run that says which code started it keeps that commit, not the writer's.
    started = {"env_steps": 0, "sha": "abc1234", "dirty": False, "mbrlax": "0.1.0"}
    resumed = {**started, "env_steps": 400, "sha": "def5678"}
    s3 = _fake_run(tmp_path / "s3", 3, [-20.0])
    (s3 / CODE_FILE).write_text(f"{json.dumps(started)}\n{json.dumps(resumed)}\n")
    path = bench.write_seed_results("seeds", [s3], table, merge=True, results_dir=tmp_path / "res")
    run3 = bench.read_results(path)["runs"][-1]
    assert run3["commit"] == {"sha": "abc1234", "dirty": False}
    assert [c["sha"] for c in run3["code"]] == ["abc1234", "def5678"]
    assert data["tables"]["summary"]["rows"] == [[3, [-900.0, -100.0, -50.0]]]
    # A variant (the same algorithm with other training arguments) names its own series.
    path = bench.write_seed_results(
        "seeds-x", first, table, merge=False, results_dir=tmp_path / "res", variant="x"
    )
    assert [r["series"] for r in bench.read_results(path)["runs"]] == ["pets (x)", "pets (x)"]


def test_plot_draws_published_curves_dashed_in_their_envs_panel(tmp_path, monkeypatch):
    import mbrlax.analysis.plotting as plotting

    drawn = []
    monkeypatch.setattr(
        plotting,
        "save_png_atomic",
        lambda fig, path: drawn.extend(
            (line.get_label(), line.get_linestyle()) for ax in fig.axes for line in ax.get_lines()
        ),
    )
    ours = {"series": "ours", "env": "e", "env_steps": [1, 2], "eval_return": [0.0, 1.0]}
    theirs = {**ours, "series": "theirs", "eval_return": [1.0, 2.0]}
    results = {
        "benchmark": "b", "command": "c", "runs": [ours, {**ours, "eval_return": [1.0, 3.0]}],
        "extra": {"reference_curves": [theirs, {**theirs, "env": "an env without runs"}]},
    }  # fmt: skip
    bench.plot_results(results, tmp_path / "x.png")
    named = [(label, style) for label, style in drawn if not label.startswith("_")]
    assert named == [("ours (2 seeds)", "-"), ("theirs (1 seed)", "--")]
    assert len(drawn) == 5  # 2 seeds + mean of ours, 1 seed + mean of theirs; one panel


def test_markdown_table_and_provenance(tmp_path):
    data = bench.read_results(_fake_results(tmp_path))
    table = bench.render_markdown_table(data["tables"]["summary"])
    assert table.splitlines() == [
        "| env | seeds | final eval | reached |",
        "|---|---|---|---|",
        "| Pendulum-v1 | 2 | -150.5 | 2/2 |",
        "| mbrlax/Cartpole\\|x | 2 | - | yes |",
    ]
    data["commit"] = {"sha": "0123456789abcdef", "dirty": False}
    data["date"] = "2026-11-20T10:00:00+00:00"
    data["machine"] = {"cpu": "Some CPU", "cores": 2, "jax": "0.7", "backend": "cpu"}
    line = bench.provenance_line(data)
    assert line == (
        f"`{data['command']}` (commit 0123456, 2026-11-20, Some CPU, 2 cores, JAX 0.7 on cpu)"
    )


def test_replace_tables_between_markers(tmp_path):
    data = bench.read_results(_fake_results(tmp_path))
    text = (
        "intro\n\n<!-- bench:fake:summary -->\n| typed | by hand |\n<!-- /bench:fake:summary -->\n"
        "middle\n<!-- bench:other:t -->\nkept as it is\n<!-- /bench:other:t -->\nend\n"
    )
    out = bench.replace_tables(text, {"fake": data})
    assert out.replaced == ("fake:summary",) and out.pending == ("other:t",)
    assert "by hand" not in out.text and "kept as it is" in out.text
    assert out.text.startswith("intro\n\n<!-- bench:fake:summary -->\n\n| env |")
    assert bench.provenance_line(data) + "\n\n<!-- /bench:fake:summary -->\nmiddle" in out.text
    # Regenerating the result changes nothing: the markers survive the replacement.
    assert bench.replace_tables(out.text, {"fake": data}).text == out.text


def test_replace_tables_refuses_broken_markers(tmp_path):
    data = bench.read_results(_fake_results(tmp_path))
    with pytest.raises(ValueError, match="never closed"):
        bench.replace_tables("<!-- bench:fake:summary -->\nx\n", {"fake": data})
    with pytest.raises(ValueError, match="line 3"):
        bench.replace_tables(
            "<!-- bench:fake:summary -->\nx\n<!-- /bench:fake:other -->\n", {"fake": data}
        )
    with pytest.raises(KeyError, match="Did you mean 'summary'"):
        bench.replace_tables(
            "<!-- bench:fake:sumary -->\nx\n<!-- /bench:fake:sumary -->\n", {"fake": data}
        )


def test_make_tables_check_and_regenerate(tmp_path, capsys):
    make_tables = _make_tables()
    results_dir = tmp_path / "results"
    runs = [_fake_run(tmp_path / f"r{s}", s, [-900.0 + s, -300.0 - s]) for s in (0, 1)]
    _fake_results(results_dir, runs)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- bench:fake:summary -->\n| old |\n<!-- /bench:fake:summary -->\n")
    argv = ["--files", str(readme), "--results-dir", str(results_dir)]

    assert make_tables.main([*argv, "--check"]) == 1  # stale table, no PNG yet
    assert "| old |" in readme.read_text()  # --check writes nothing
    assert not (results_dir / "fake.png").exists()

    assert make_tables.main(argv) == 0
    text = readme.read_text()
    assert "| Pendulum-v1 | 2 | -150.5 | 2/2 |" in text and "| old |" not in text
    assert (results_dir / "fake.png").stat().st_size > 0
    assert make_tables.main([*argv, "--check"]) == 0
    assert "up to date (1 generated tables)" in capsys.readouterr().out

    # A hand edit inside the markers is found.
    readme.write_text(text.replace("-150.5", "-100.0"))
    assert make_tables.main([*argv, "--check"]) == 1


def test_readme_and_docs_tables_match_the_results_files():
    """The generated tables of the README and the docs are what `benchmarks/make_tables.py`
    makes of the committed results files (run it after a benchmark to update them), and the
    benchmarks page shows every results file."""
    make_tables = _make_tables()
    files = make_tables.default_targets(ROOT)
    for path in files:
        bench.check_markers(path.read_text(), str(path))
    assert ROOT / "README.md" in files and ROOT / "docs" / "benchmarks.md" in files
    assert "<!-- bench:pets_sample_efficiency:summary -->" in (ROOT / "README.md").read_text()
    assert make_tables.main(["--check", "--no-plots"]) == 0
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    for results in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        assert f"<!-- bench:{results.stem}:" in page, f"{results.name} is not on the page"


def test_train_args_split_and_merge():
    own, train = bench.split_train_args(["--seeds", "0", "--", "--episodes", "2"])
    assert own == ["--seeds", "0"] and train == ("--episodes", "2")
    assert bench.split_train_args(["--seeds", "0"]) == (["--seeds", "0"], ())
    # Plain flags of every list go before any subcommand, whose flags stay behind it.
    merged = bench.merge_train_args(
        ["agent:prioritized-sweeping", "--agent.alpha", "0.5"],
        ["--episodes", "2", "agent.planner:cem", "--agent.planner.horizon", "4"],
    )
    assert merged == (
        "--episodes",
        "2",
        "agent:prioritized-sweeping",
        "--agent.alpha",
        "0.5",
        "agent.planner:cem",
        "--agent.planner.horizon",
        "4",
    )


def test_run_seeds_orders_run_dirs_and_reports_failures(tmp_path, monkeypatch):
    from mbrlax.training import sweep

    seen = {}

    def fake_run_sweep(cfg, **kwargs):
        seen["cfg"], seen["kwargs"] = cfg, kwargs
        trials = sweep.expand(cfg)
        outcomes = tuple(
            sweep.TrialOutcome(
                t,
                "train",
                1 if t.seed == 1 else 0,
                1.0,
                tmp_path / "log",
                "boom" if t.seed == 1 else "",
            )
            for t in trials
        )
        return sweep.SweepResult(cfg, outcomes, (), "", ())

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    settings = bench.SweepSettings(out=tmp_path, backend="process", train_args=("--episodes", "2"))
    dirs = bench.run_seeds(settings, "g", "pets", ["Pendulum-v1", "mbrlax/Pendulum-v0"], [2, 0])
    assert [d.name for d in dirs] == [
        "pets-Pendulum-v1-seed2",
        "pets-Pendulum-v1-seed0",
        "pets-mbrlax_Pendulum-v0-seed2",
        "pets-mbrlax_Pendulum-v0-seed0",
    ]
    assert seen["cfg"].out == tmp_path / "g" and seen["cfg"].fixed == ("--episodes", "2")
    with pytest.raises(bench.BenchmarkError, match="1 of 2 trials .* failed"):
        bench.run_seeds(settings, "g", "pets", ["Pendulum-v1"], [0, 1])


def test_results_files_go_to_this_repositorys_benchmarks_folder():
    # wherever the module lives in the package, the default is <repo>/benchmarks/results
    expected = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    assert bench.default_results_dir() == expected
