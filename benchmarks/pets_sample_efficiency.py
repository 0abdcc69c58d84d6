"""PETS sample efficiency: eval return per episode and wall time, several seeds per env.

Targets (issue 2): Pendulum-v1 mean eval return >= -200 by episode 10 (2,000 env steps), each
run under 5 minutes on 2 cores; mbrlax/CartpoleSwingup-v0 >= 170 by episode 15, each run
under 20 minutes.

    python benchmarks/pets_sample_efficiency.py                      # both envs, 3 seeds
    python benchmarks/pets_sample_efficiency.py --envs Pendulum-v1 --seeds 0
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from mbrlax.experiment import PETSExperiment, run
from mbrlax.plotting import plot_learning_curves

TARGETS = {"Pendulum-v1": (10, -200.0, 300.0), "mbrlax/CartpoleSwingup-v0": (15, 170.0, 1200.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(TARGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None, help="folder for the run directories")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mbrlax-pets-bench-"))
    summary = []
    for env in args.envs:
        episodes, target, time_limit = TARGETS.get(env, (10, float("nan"), float("nan")))
        dirs, finals, walls = [], [], []
        curves = []
        for seed in args.seeds:
            exp = PETSExperiment.preset(env, seed=seed)
            exp = dataclasses.replace(
                exp,
                run_dir=out / f"{env.replace('/', '_')}-seed{seed}",
                runner=dataclasses.replace(exp.runner, episodes=episodes, progress=False),
            )
            result = run(exp)
            dirs.append(result.run_dir)
            evals = [r.get("eval_return", float("nan")) for r in result.rows]
            curves.append(evals)
            finals.append(evals[-1])
            walls.append(result.rows[-1]["wall_seconds"])
            print(
                f"{env} seed {seed}: eval return by episode: "
                + " ".join(f"{e:.0f}" for e in evals)
                + f" | wall {walls[-1]:.0f}s",
                flush=True,
            )
        mean_curve = np.nanmean(np.array(curves), axis=0)
        print(f"{env} mean over seeds by episode: " + " ".join(f"{e:.0f}" for e in mean_curve))
        png = plot_learning_curves(dirs, out / f"{env.replace('/', '_')}.png", title=f"PETS, {env}")
        summary.append(
            (env, episodes, np.mean(finals), np.min(finals), target, np.max(walls), time_limit, png)
        )
    print()
    print(
        f"{'env':28s} {'episode':>7s} {'mean eval':>9s} {'worst':>7s} {'target':>7s} "
        f"{'max wall s':>10s} {'limit s':>7s}  plot"
    )
    for env, ep, mean, worst, target, wall, limit, png in summary:
        print(
            f"{env:28s} {ep:7d} {mean:9.1f} {worst:7.1f} {target:7.0f} {wall:10.0f} "
            f"{limit:7.0f}  {png}"
        )


if __name__ == "__main__":
    main()
