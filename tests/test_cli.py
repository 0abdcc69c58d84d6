"""The command line: bad options are answered with what is valid; train/eval/plot work."""

import csv
from pathlib import Path

import pytest
from conftest import tiny_pets_args

from mbrlax.cli import main
from mbrlax.training.logger import read_config, read_metrics

TINY = ["--env", "Pendulum-v1", *tiny_pets_args(2)]


def tiny_mpc(run_dir: Path, *options: str) -> list[str]:
    """`mbrlax train mpc` of 200-step Pendulum episodes planned by a CEM of 8 candidates over
    2 steps: about a second an episode (the planner subcommand comes last)."""
    return [
        *("train", "mpc", "--env", "mbrlax/Pendulum-v0", "--no-progress"),
        *("--run-dir", str(run_dir), *options),
        *("agent.planner:cem", "--agent.planner.horizon", "2", "--agent.planner.population", "8"),
        *("--agent.planner.num-elites", "2", "--agent.planner.iterations", "1"),
    ]


def files(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder`` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def checkpoint_names(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


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


def test_an_earlier_run_is_kept_without_overwrite_and_replaced_with_it(tmp_path, capsys):
    run_dir = tmp_path / "run"
    main(tiny_mpc(run_dir, "--episodes", "2", "--checkpoint-every", "100"))
    assert checkpoint_names(run_dir) == [f"ckpt-{s:010d}.npz" for s in (200, 300, 400)]
    old = files(run_dir)
    capsys.readouterr()

    # Without --overwrite: refused, and not a byte of the earlier run changes.
    with pytest.raises(SystemExit) as e:
        main(tiny_mpc(run_dir, "--episodes", "1", "--seed", "1"))
    assert e.value.code == 2
    assert "already holds a run; nothing was overwritten" in capsys.readouterr().err
    assert files(run_dir) == old

    # With it: the earlier run is gone and the directory holds the new one alone.
    again = tiny_mpc(run_dir, "--episodes", "1", "--seed", "1", "--checkpoint-every", "0")
    main([*again, "--overwrite"])
    assert [(r["episode"], r["env_steps"]) for r in read_metrics(run_dir)] == [(1.0, 200.0)]
    assert checkpoint_names(run_dir) == ["ckpt-0000000200.npz"]  # no 300 or 400 left
    new = files(run_dir)
    assert new["checkpoints/ckpt-0000000200.npz"] != old["checkpoints/ckpt-0000000200.npz"]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1  # the old events file is gone
    config = read_config(run_dir)
    assert config["seed"] == 1 and config["experiment"]["runner"]["episodes"] == 1


def test_overwrite_refuses_a_folder_that_is_not_a_run_and_leaves_it_alone(tmp_path, capsys):
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "thesis.tex").write_text("precious")
    (mine / "data" / "results.csv").write_text("1,2\n")
    before = files(mine)
    with pytest.raises(SystemExit) as e:
        main([*tiny_mpc(mine, "--episodes", "1"), "--overwrite"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"mbrlax: error: --overwrite refuses to empty {mine}: it is not an mbrlax run" in err
    assert "Choose another --run-dir" in err
    assert files(mine) == before


def test_help_shows_the_defaults_of_the_env_given(capsys):
    """`--help` shows the preset of --env (cart-pole: 128 units), the general defaults for a
    user's env without one (64 units), and says which env they are for."""
    shown = {}
    for env in ("mbrlax/CartpoleSwingup-v0", "user_envs:PointReach-v0"):
        with pytest.raises(SystemExit) as e:
            main(["train", "pets", "--env", env, "--help"])
        assert e.value.code == 0
        shown[env] = " ".join(capsys.readouterr().out.split())
        assert f"The defaults shown are those for --env {env}" in shown[env]
    assert "(default: 128 128 128)" in shown["mbrlax/CartpoleSwingup-v0"]
    assert "(default: 64 64 64)" in shown["user_envs:PointReach-v0"]
