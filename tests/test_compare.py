"""Comparing runs over seeds: discovery, grouping, oracle statistics, the CLI and the plot."""

import csv
import json
import math

import numpy as np
import pytest

from mbrlax.analysis.compare import (
    Thresholds,
    find_runs,
    format_compare_table,
    load_run,
    mean_curve,
    parse_thresholds,
    steps_to_threshold,
    summarise,
)
from mbrlax.cli import main
from mbrlax.training.logger import write_json_atomic

COLUMNS = ["env_steps", "episode", "train_return", "eval_return", "wall_seconds"]
NAN = math.nan


def write_run(run_dir, algo, env, seed, steps, evals, walls):
    """A run directory as `mbrlax train` leaves it (NaN eval: a row without evaluation)."""
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "config.json", {"algo": algo, "env": env, "seed": seed})
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i, (s, e, w) in enumerate(zip(steps, evals, walls, strict=True)):
            writer.writerow([s, i + 1, -1234.5, "" if math.isnan(e) else e, w])
    return run_dir


@pytest.fixture
def sweep(tmp_path):
    """Pendulum: 3 seeds, seed 2 still going (its last row has no eval); cart-pole: 1 seed."""
    root = tmp_path / "runs"
    pend = root / "pendulum"
    write_run(
        pend / "s0", "pets", "Pendulum-v1", 0, [200, 400, 600], [-1000, -500, -100], [1, 2, 3]
    )
    write_run(pend / "s1", "pets", "Pendulum-v1", 1, [200, 400, 600], [-900, -150, -200], [2, 4, 6])
    write_run(
        pend / "s2", "pets", "Pendulum-v1", 2, [200, 400, 600], [-800, -300, NAN], [1.5, 3, 4.5]
    )
    cart = root / "cart" / "deeper" / "s0"
    write_run(cart, "pets", "mbrlax/CartpoleSwingup-v0", 0, [100, 250], [10, 50], [1, 2])
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    (pend / "s0" / "tensorboard").mkdir()  # run directories are not searched further
    return root


# Oracles for the Pendulum group (hand-computed from the fixture):
# finals -100, -200, -300 -> mean -200, SE = std(ddof=1) / sqrt(3) = 100 / sqrt(3);
# bests -100, -150, -300 -> mean -550 / 3; final env steps 600, 600, 400 -> 1600 / 3;
# threshold -250 first reached at 600 (s0) and 400 (s1), never by s2 -> 500, 2/3; walls 3, 6, 4.5.
PEND_SE = 100 / math.sqrt(3)


def test_find_runs_recurses_skips_non_runs_and_reads_each_run_once(sweep):
    found = find_runs([sweep, sweep / "pendulum" / "s1"])
    rel = [p.relative_to(sweep).as_posix() for p in found]
    assert rel == ["cart/deeper/s0", "pendulum/s0", "pendulum/s1", "pendulum/s2"]
    assert find_runs([sweep / "pendulum" / "s2"]) == [sweep / "pendulum" / "s2"]


def test_load_run_keeps_rows_without_eval_as_nan(sweep):
    run = load_run(sweep / "pendulum" / "s2")
    assert (run.algo, run.env, run.seed) == ("pets", "Pendulum-v1", 2)
    np.testing.assert_array_equal(run.env_steps, [200, 400, 600])
    assert np.isnan(run.eval_return[2])
    steps, returns = run.evals
    np.testing.assert_array_equal(steps, [200, 400])
    np.testing.assert_array_equal(returns, [-800, -300])


def test_summarise_matches_hand_computed_statistics(sweep):
    thresholds = Thresholds(default=40.0, per_env={"Pendulum-v1": -250.0})
    pend, cart = summarise(find_runs([sweep / "pendulum", sweep / "cart"]), thresholds)

    assert (pend.algo, pend.env, pend.seeds, pend.n_runs, pend.n_evaluated) == (
        "pets",
        "Pendulum-v1",
        (0, 1, 2),
        3,
        3,
    )
    assert pend.final_eval_mean == pytest.approx(-200)
    assert pend.final_eval_se == pytest.approx(PEND_SE)
    assert pend.best_eval_mean == pytest.approx(-550 / 3)
    assert pend.final_env_steps == pytest.approx(1600 / 3)
    assert pend.threshold == -250
    assert pend.steps_to_threshold_mean == pytest.approx(500)
    assert pend.reached == 2
    assert pend.wall_seconds_mean == pytest.approx(4.5)

    assert cart.env == "mbrlax/CartpoleSwingup-v0" and cart.n_runs == 1
    assert cart.final_eval_mean == 50 and math.isnan(cart.final_eval_se)
    assert (cart.threshold, cart.steps_to_threshold_mean, cart.reached) == (40, 250, 1)


def test_steps_to_threshold_is_the_first_crossing(sweep):
    run = load_run(sweep / "pendulum" / "s1")
    assert steps_to_threshold(run, -900) == 200  # >= counts
    assert steps_to_threshold(run, -200) == 400  # later dips do not matter
    assert math.isnan(steps_to_threshold(run, 0))


def test_groups_split_by_algorithm_as_well_as_env(tmp_path):
    write_run(tmp_path / "a", "pets", "Pendulum-v1", 0, [200], [-100], [1])
    write_run(tmp_path / "b", "mbpo", "Pendulum-v1", 0, [200], [-300], [1])
    summaries = summarise(find_runs([tmp_path]))
    assert [(s.algo, s.n_runs, s.final_eval_mean) for s in summaries] == [
        ("pets", 1, -100),
        ("mbpo", 1, -300),
    ]


def test_mean_curve_interpolates_onto_the_steps_all_runs_cover():
    stats = mean_curve(
        [
            (np.array([100.0, 300.0]), np.array([0.0, 200.0])),
            (np.array([200.0, 400.0]), np.array([150.0, 250.0])),
        ]
    )
    # Common range [200, 300]; run 1 at 200 is 100 (interpolated), run 2 at 300 is 200.
    np.testing.assert_allclose(stats.env_steps, [200, 300])
    np.testing.assert_allclose(stats.mean, [125, 200])
    np.testing.assert_allclose(stats.se, [25, 0])  # std(ddof=1) of (100, 150) is 35.36; / sqrt 2


def test_mean_curve_of_aligned_runs_uses_the_raw_values(sweep):
    runs = [load_run(sweep / "pendulum" / f"s{i}") for i in range(3)]
    stats = mean_curve([r.evals for r in runs])
    np.testing.assert_allclose(stats.env_steps, [200, 400])  # s2 has no eval at 600 yet
    np.testing.assert_allclose(stats.mean, [-900, -950 / 3])
    assert stats.se[0] == pytest.approx(PEND_SE)


def test_parse_thresholds():
    t = parse_thresholds(["Pendulum-v1=-200", "500", "mbrlax/Pendulum-v0=-150.5"])
    assert t.default == 500
    assert t.for_env("Pendulum-v1") == -200
    assert t.for_env("mbrlax/Pendulum-v0") == -150.5
    assert t.for_env("Other-v0") == 500
    assert parse_thresholds([]).for_env("Pendulum-v1") is None


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["Pendulum-v1=abc"], "not a finite number"),
        (["Pendulum-v1="], "not a finite number"),
        (["nan"], "not a finite number"),
        (["=5"], "names no env"),
        (["1", "2"], "given twice"),
        (["Pendulum-v1=1", "Pendulum-v1=2"], "given twice"),
    ],
)
def test_parse_thresholds_rejects_malformed_specs(specs, message):
    with pytest.raises(ValueError, match=message):
        parse_thresholds(specs)


def test_format_compare_table(sweep):
    summaries = summarise(find_runs([sweep]), Thresholds(per_env={"Pendulum-v1": -250.0}))
    lines = format_compare_table(summaries).splitlines()
    header = "algo env seeds env steps final eval best eval threshold steps to thr reached wall s"
    assert lines[0].split() == header.split()
    cart, pend = lines[1].split(), lines[2].split()
    assert cart == "pets mbrlax/CartpoleSwingup-v0 1 250 50.0 50.0 - - - 2.0".split()
    assert pend == "pets Pendulum-v1 3 533 -200.0 +- 57.7 -183.3 -250 500 2/3 4.5".split()
    assert "threshold" not in format_compare_table(summarise(find_runs([sweep])))


def test_cli_compare_prints_the_table_and_writes_csv_and_json(sweep, tmp_path, capsys):
    out_csv = tmp_path / "out" / "table.csv"
    main(["compare", str(sweep), "--threshold", "Pendulum-v1=-250", "--csv", str(out_csv)])
    out = capsys.readouterr().out
    assert "-200.0 +- 57.7" in out and "2/3" in out

    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    pend = next(r for r in rows if r["env"] == "Pendulum-v1")
    assert pend["seeds"] == "0 1 2" and pend["reached"] == "2"
    assert float(pend["final_eval_se"]) == pytest.approx(PEND_SE)
    cart = next(r for r in rows if r["env"] != "Pendulum-v1")
    assert cart["final_eval_se"] == "" and cart["threshold"] == ""

    main(
        [
            "compare",
            str(sweep),
            "--json",
            "--threshold",
            "-250",
            "--threshold",
            "mbrlax/CartpoleSwingup-v0=40",
        ]
    )
    table = json.loads(capsys.readouterr().out)
    by_env = {row["env"]: row for row in table}
    assert by_env["Pendulum-v1"]["steps_to_threshold_mean"] == pytest.approx(500)
    assert by_env["Pendulum-v1"]["seeds"] == [0, 1, 2]
    assert by_env["mbrlax/CartpoleSwingup-v0"]["threshold"] == 40
    assert by_env["mbrlax/CartpoleSwingup-v0"]["final_eval_se"] is None


def test_cli_warns_about_a_seed_counted_twice(sweep, capsys):
    write_run(sweep / "again", "pets", "Pendulum-v1", 1, [200], [-100], [1])
    main(["compare", str(sweep)])
    err = capsys.readouterr().err
    assert "Pendulum-v1" in err and "seed 1" in err


def test_cli_plot_of_a_sweep_folder_writes_a_png(sweep, tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "curves.png"
    main(["plot", str(sweep), "--out", str(out)])
    assert capsys.readouterr().out.strip() == str(out)
    image = matplotlib.image.imread(out)
    assert image.shape == (462, 770, 4)  # 7 x 4.2 inches at 110 dpi, RGBA
    assert not list(tmp_path.glob("*.tmp.png"))

    # One run directory (what the runner draws after each episode), default output path.
    main(["plot", str(sweep / "cart" / "deeper" / "s0")])
    assert (
        matplotlib.image.imread(sweep / "cart" / "deeper" / "s0" / "learning_curves.png").ndim == 3
    )


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_cli_paths_without_runs_exit_2(command, sweep, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for path, message in [
        (empty, "holds no runs"),
        (sweep / "notes", "holds no runs"),
        (tmp_path / "missing", "does not exist"),
        (sweep / "notes" / "readme.txt", "is not a directory"),
    ]:
        with pytest.raises(SystemExit) as e:
            main([command, str(path)])
        assert e.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([command])
    assert e.value.code == 2
    assert "at least one run directory" in capsys.readouterr().err


def test_cli_a_half_written_run_names_the_missing_file(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(SystemExit) as e:
        main(["compare", str(tmp_path / "run")])
    assert e.value.code == 2
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Pendulum-v1=abc", "not a finite number"),
        ("Pendulm-v1=-200", "Did you mean 'Pendulum-v1'"),
    ],
)
def test_cli_compare_bad_threshold_exits_2(spec, message, sweep, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", str(sweep), "--threshold", spec])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
