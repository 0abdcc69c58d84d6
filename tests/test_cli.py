"""The command line: bad options are answered with what is valid; train/eval/plot work."""

import csv

import pytest
from conftest import tiny_pets_args

from mbrlax.cli import main

TINY = ["--env", "Pendulum-v1", *tiny_pets_args(2)]


def test_unknown_command_lists_valid_ones(capsys):
    with pytest.raises(SystemExit) as e:
        main(["trian"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "train, resume, eval, plot, compare" in err and "Did you mean 'train'" in err


def test_unknown_algorithm(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "petz"])
    assert e.value.code == 2
    assert "Did you mean 'pets'" in capsys.readouterr().err


def test_typo_in_option_suggests_the_right_one(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "pets", "--episodez", "3"])
    assert e.value.code == 2
    out = capsys.readouterr()
    assert "--episodes" in out.out + out.err


def test_bad_option_value(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "pets", "--episodes", "three"])
    assert e.value.code == 2


def test_eval_of_a_missing_run_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["eval", str(tmp_path / "nope")])
    assert e.value.code == 2
    assert "config.json" in capsys.readouterr().err


def test_train_eval_plot_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    main(["train", "pets", "--run-dir", str(run_dir), *TINY])
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["episode"]) for r in rows] == [1, 2]
    assert [int(r["env_steps"]) for r in rows] == [200, 400]
    for col in ("train_return", "eval_return", "wall_seconds"):
        assert all(r[col] != "" for r in rows)
    for name in ("config.json", "learning_curve.png", "final_model.eqx"):
        assert (run_dir / name).exists(), name
    assert any((run_dir / "tensorboard").iterdir())

    main(["eval", str(run_dir), "--episodes", "1"])
    assert "mean return" in capsys.readouterr().out

    out_png = tmp_path / "curves.png"
    main(["plot", str(run_dir), "--out", str(out_png)])
    assert out_png.stat().st_size > 1000

    # A second run into the same directory must not touch the first one.
    before = (run_dir / "metrics.csv").read_bytes()
    with pytest.raises(SystemExit) as e:
        main(["train", "pets", "--run-dir", str(run_dir), *TINY])
    assert e.value.code == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run_dir / "metrics.csv").read_bytes() == before
