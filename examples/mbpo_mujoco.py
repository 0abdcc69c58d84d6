"""MBPO on a MuJoCo env: SAC learning from short rollouts of a learned ensemble.

The run starts from the preset of the paper's settings for the env (here InvertedPendulum-v5:
see ``mbrlax/agents/mbpo/presets.py``) and writes an ordinary run directory: metrics.csv,
TensorBoard events, learning_curve.png, checkpoints (``mbrlax resume DIR`` continues it) and
the final model (``mbrlax diagnose DIR`` draws its predictions against the truth).

    python examples/mbpo_mujoco.py                   # 10,000 env steps: about an hour on 2 cores
    python examples/mbpo_mujoco.py --env Hopper-v5 --steps 50000
    python examples/mbpo_mujoco.py --quick           # 400 steps with small networks: a smoke run

Needs MuJoCo (``pip install 'mbrlax[mujoco]'``; ``make`` installs it).
"""

from __future__ import annotations

import argparse

import mbrlax
from mbrlax.agents.mbpo import RolloutSchedule
from mbrlax.agents.sac import SACConfig
from mbrlax.models import EnsembleConfig

SMOKE = dict(  # small enough to run in seconds; it shows the loop, it does not learn
    model=EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(32, 32), max_epochs=3),
    sac=SACConfig(hidden_sizes=(32, 32), batch_size=64, updates_per_step=2),
    model_train_every=100,
    epoch_length=100,
    rollout_schedule=RolloutSchedule(0, 2, 1, 3),
    rollout_batch_size=256,
    warmup_steps=200,
    eval_episodes=1,
    eval_every=5,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="InvertedPendulum-v5")
    parser.add_argument("--steps", type=int, default=10_000, help="env steps in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="400 steps, small networks")
    args = parser.parse_args(argv)
    settings = dict(SMOKE, total_steps=400) if args.quick else dict(total_steps=args.steps)

    result = mbrlax.train("mbpo", env=args.env, seed=args.seed, progress=False, **settings)

    print(f"{'env steps':>9} {'eval return':>11}")
    for row in result.rows:
        if "eval_return" in row:  # the episodes after which an evaluation ran
            print(f"{row['env_steps']:9d} {row['eval_return']:11.1f}")
    print(f"run directory: {result.run_dir} (learning_curve.png, metrics.csv, final_model.eqx)")
    returns = mbrlax.evaluate(result.run_dir, episodes=2)
    print(f"ok: the final policy's returns over 2 episodes: {[round(r, 1) for r in returns]}")


if __name__ == "__main__":
    main()
