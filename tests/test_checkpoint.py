"""Checkpoints: exact round trips, corruption handling, and exact resume of a training run."""

import dataclasses
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.agents.pets import PETSConfig
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.planners import CEM
from mbrlax.planners.icem import ICEMState
from mbrlax.training.checkpoint import (
    CheckpointError,
    CheckpointManager,
    load_checkpoint,
    save_checkpoint,
)
from mbrlax.training.experiment import PETSExperiment, resume, run
from mbrlax.training.logger import (
    LOG_FILE,
    RunDirError,
    code_version,
    read_code_records,
    read_metrics,
)
from mbrlax.training.loop import RunnerConfig

# Columns that must be identical after a resume (timings cannot be).
EXACT = ("env_steps", "episode", "train_return", "eval_return", "agent/train_loss", "agent/val_mse")


def tree():
    return {
        "plan": ICEMState(jnp.arange(6.0).reshape(3, 2), jnp.ones((3, 2)), jnp.zeros((0, 3, 2))),
        "key": jax.random.split(jax.random.key(3), 2),
        "count": np.int64(7),
        "flag": True,
        "step": jnp.asarray(5, jnp.int32),
    }


def test_round_trip_is_exact_keys_included(tmp_path):
    t = tree()
    save_checkpoint(tmp_path / "c.npz", {"t": t}, {"note": "hi", "big": 2**70})
    out, meta = load_checkpoint(tmp_path / "c.npz", {"t": tree()})
    assert meta == {"note": "hi", "big": 2**70}
    flat_in, flat_out = jax.tree.leaves(t), jax.tree.leaves(out["t"])
    assert isinstance(out["t"]["plan"], ICEMState) and out["t"]["flag"] is True
    assert np.array_equal(jax.random.key_data(out["t"]["key"]), jax.random.key_data(t["key"]))
    # The restored keys draw the same numbers as the saved ones.
    assert jnp.array_equal(jax.random.normal(out["t"]["key"][1]), jax.random.normal(t["key"][1]))
    for a, b in zip(flat_in, flat_out, strict=True):
        if not jax.dtypes.issubdtype(jnp.asarray(a).dtype, jax.dtypes.prng_key):
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_template_mismatch_is_reported(tmp_path):
    save_checkpoint(tmp_path / "c.npz", {"t": {"w": jnp.zeros((3, 2))}}, {})
    with pytest.raises(CheckpointError, match=r"float32\[3, 2\].*expects float32\[4, 2\]"):
        load_checkpoint(tmp_path / "c.npz", {"t": {"w": jnp.zeros((4, 2))}})
    with pytest.raises(CheckpointError, match="different config"):
        load_checkpoint(tmp_path / "c.npz", {"t": {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}})
    with pytest.raises(CheckpointError, match="has no"):
        load_checkpoint(tmp_path / "c.npz", {"other": {"w": jnp.zeros((3, 2))}})


def test_manager_keeps_last_k_and_falls_back_past_corrupt_files(tmp_path):
    m = CheckpointManager(tmp_path, keep=2)
    for step in (10, 20, 30):
        m.save(step, {"x": jnp.full(3, float(step))}, {})
    assert [p.name for p in m.paths()] == ["ckpt-0000000020.npz", "ckpt-0000000030.npz"]
    newest = m.paths()[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a crash or a full disk
    found = m.restore_latest({"x": jnp.zeros(3)})
    assert found.meta["step"] == 20 and float(found.trees["x"][0]) == 20.0
    assert [p.name for p, _ in found.skipped] == [newest.name]
    # A damaged file is reported and kept aside, never deleted or left where a save would go.
    assert not newest.exists() and newest.with_name(newest.name + ".damaged").exists()
    # A flipped byte in the middle of an array is caught by the checksum.
    older = m.paths()[0]
    raw = bytearray(older.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    older.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        m.restore_latest({"x": jnp.zeros(3)})
    assert CheckpointManager(tmp_path / "none").restore_latest({"x": jnp.zeros(3)}) is None
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=0)


def tiny(env: str, run_dir, episodes=3, checkpoint_every=70) -> PETSExperiment:
    return PETSExperiment(
        env=env,
        seed=5,
        run_dir=run_dir,
        agent=PETSConfig(
            model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(16, 16), max_epochs=3),
            planner=CEM(horizon=4, population=16, num_elites=4, iterations=2),
            num_particles=2,
        ),
        runner=RunnerConfig(
            episodes=episodes,
            warmup_steps=200,
            eval_episodes=1,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=100,
            progress=False,
        ),
    )


def exact(rows):
    return [[r.get(c, float("nan")) for c in EXACT] for r in rows]


def as_killed_after(src, dst, checkpoint_name):
    """A copy of run ``src`` as a process killed right after writing ``checkpoint_name`` (and
    some rows past it) would have left it."""
    shutil.copytree(src, dst)
    for p in sorted((dst / "checkpoints").iterdir()):
        if p.name > checkpoint_name:
            p.unlink()
    for name in ("final_model.eqx", "summary.json"):
        (dst / name).unlink()


@pytest.mark.parametrize(
    ("env", "mid_episode"), [("mbrlax/Pendulum-v0", True), ("Pendulum-v1", False)]
)
def test_resume_from_any_checkpoint_gives_the_same_rows(tmp_path, env, mid_episode):
    full = run(tiny(env, tmp_path / "full"))
    names = [p.name for p in CheckpointManager(tmp_path / "full").paths()]
    steps = [int(n[5:15]) for n in names]
    if mid_episode:  # every 70 env steps, mid-episode too, and at the end
        assert steps == [70, 140, 210, 280, 350, 420, 490, 560, 600]
    else:  # Gymnasium's Pendulum cannot be saved: at the end of the episode instead
        assert steps == [200, 400, 600]
        assert "cannot be saved" in (tmp_path / "full" / LOG_FILE).read_text()
    # Killed after the first checkpoint, and after one late in the run.
    for i in (0, len(names) - 2):
        dst = tmp_path / f"killed{i}"
        as_killed_after(tmp_path / "full", dst, names[i])
        resumed = resume(dst)
        assert exact(resumed.rows) == exact(full.rows)
        assert exact(read_metrics(dst)) == exact(read_metrics(tmp_path / "full"))
        assert f"resuming from {names[i]}" in (dst / LOG_FILE).read_text()
        # Which code ran it, from where: its start, then this resume.
        records = read_code_records(dst)
        assert [r["env_steps"] for r in records] == [0, steps[i]]
        assert records[-1]["sha"] == code_version()["sha"]


def test_resume_without_checkpoint_starts_over_and_bad_dirs_are_refused(tmp_path):
    full = run(tiny("mbrlax/Pendulum-v0", tmp_path / "full", episodes=2, checkpoint_every=0))
    assert [p.name for p in CheckpointManager(tmp_path / "full").paths()] == ["ckpt-0000000400.npz"]
    dst = tmp_path / "early"
    shutil.copytree(tmp_path / "full", dst)
    shutil.rmtree(dst / "checkpoints")
    (dst / "checkpoints").mkdir()
    (dst / "checkpoints" / "ckpt-0000000400.npz.abc.tmp").write_bytes(b"half a file")
    assert exact(resume(dst).rows) == exact(full.rows)
    log = (dst / LOG_FILE).read_text()
    assert "no checkpoint yet" in log and "interrupted" in log
    assert not list((dst / "checkpoints").glob("*.tmp"))
    with pytest.raises(RunDirError, match="no run to resume"):
        resume(tmp_path / "nothing-here")
    with pytest.raises(RunDirError, match="mbrlax resume"):
        run(dataclasses.replace(tiny("mbrlax/Pendulum-v0", dst)))
