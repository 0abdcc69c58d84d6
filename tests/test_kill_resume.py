"""A real training process, SIGKILLed at random moments and resumed, ends with the same rows.

The process is killed 10 times: at random moments of its start-up, and shortly (a random
fraction of a second, so sometimes in the middle of writing one) after random checkpoints.
Each time ``mbrlax resume`` continues it; the finished run's metrics must equal those of an
uninterrupted run of the same config, row for row.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
from conftest import tiny_pets_args

from mbrlax.training.checkpoint import CheckpointManager
from mbrlax.training.logger import read_metrics

EXACT = ("env_steps", "episode", "train_return", "eval_return", "agent/train_loss", "agent/val_mse")
EPISODES, EVERY = 5, 30

ARGS = [
    *("--env", "mbrlax/Pendulum-v0", "--seed", "11", "--checkpoint-every", str(EVERY)),
    *("--keep-checkpoints", "2", *tiny_pets_args(EPISODES)),
]


def exact(rows):
    return [[r.get(c, float("nan")) for c in EXACT] for r in rows]


def newest_step(run_dir) -> int:
    paths = CheckpointManager(run_dir).paths()
    return int(paths[-1].name[5:15]) if paths else -1


def test_sigkill_at_random_moments_then_resume_gives_the_same_rows(tmp_path):
    from mbrlax.cli import main

    main(["train", "pets", "--run-dir", str(tmp_path / "reference"), *ARGS])
    reference = read_metrics(tmp_path / "reference")

    run_dir = tmp_path / "killed"
    env = dict(os.environ)
    # Compiled programs are cached across the restarts: the same executables, faster starts.
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "jax-cache")
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    rng = np.random.default_rng(2026)
    # Kill 1 in start-up (before any checkpoint); 9 after 1 or 2 new checkpoints of each process.
    plans = [None, *rng.integers(1, 3, size=9)]
    kills, resumes, log = 0, 0, []
    while True:
        first = not (run_dir / "config.json").exists()
        resumes += not first
        start_step = newest_step(run_dir)
        cmd = ["train", "pets", "--run-dir", str(run_dir), *ARGS] if first else ["resume"]
        if not first:
            cmd.append(str(run_dir))
        proc = subprocess.Popen(
            [sys.executable, "-m", "mbrlax.cli", *cmd],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if kills < len(plans):
            if plans[kills] is None:
                time.sleep(rng.uniform(1.0, 3.0))
            else:
                target = start_step + plans[kills] * EVERY
                while proc.poll() is None and newest_step(run_dir) < target:
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                log.append(newest_step(run_dir))
                continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    assert kills == 10, log
    assert exact(read_metrics(run_dir)) == exact(reference)
    text = (run_dir / "run.log").read_text()
    assert text.count("resuming") == resumes >= 9
