"""Tabular agents on Gymnasium's toy-text envs, through the runner (``mbrlax train dyna-q``).

For FrozenLake-v1 (slippery, 4 x 4), CliffWalking-v1 and Taxi-v4, three agents from each env's
preset (``mbrlax.agents.dyna.presets``): Q-learning (``planning_steps = 0``), Dyna-Q with the
preset's ``n`` and model, and prioritized sweeping with the same ``n``, model and step size.
Each is run for 3 seeds, with a greedy evaluation every ``eval_every`` episodes. Prints, per
(env, agent): the final greedy return (mean over seeds), the first episode whose evaluation
reaches the env's target (median over seeds; ``-`` when a seed never does), the env steps that
took, and training env steps per wall second of the whole run (host loop, evaluations
included).

Every seed is a trial of ``mbrlax sweep`` (Ray when installed, else one after another): a run
directory under ``--out`` (default ``~/mbrlax-bench/dyna_gym``, one folder per env and agent),
so rerunning the same command continues it. The table and per-seed curves go to
``benchmarks/results/dyna_gym.json`` (table ``agents``).

Targets: CliffWalking -13 (the optimal path along the cliff), Taxi 7 (the optimum averages
about 7.9), FrozenLake 0.6 success (the optimal policy reaches about 0.74 within 100 steps).

    python benchmarks/dyna_gym.py [--seeds 3] [--envs FrozenLake-v1 Taxi-v4]
    python benchmarks/dyna_gym.py --envs CliffWalking-v1 --seeds 1 -- --episodes 20
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.training.bench import (
    Table,
    add_sweep_arguments,
    curve_record,
    run_seeds,
    slug,
    split_train_args,
    sweep_settings,
    write_results,
)
from mbrlax.training.experiment import DynaExperiment
from mbrlax.training.logger import read_metrics

BENCHMARK = "dyna_gym"
ENVS = ("FrozenLake-v1", "CliffWalking-v1", "Taxi-v4")
TARGETS = {"FrozenLake-v1": 0.6, "CliffWalking-v1": -13.0, "Taxi-v4": 7.0}


def agents(env_id: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``label -> (folder, mbrlax train dyna-q args)`` of Q-learning, the preset's Dyna-Q, and
    prioritized sweeping with the same settings (a subcommand other than the preset's starts
    from its own defaults, so every setting is given)."""
    dyna_q = DynaExperiment.preset(env_id).agent
    n = dyna_q.planning_steps
    return {
        "Q-learning": ("q-learning", ("agent:dyna-q", "--agent.planning-steps", "0")),
        f"Dyna-Q n={n}": ("dyna-q", ()),
        "prio. sweeping": (
            "prioritized-sweeping",
            (
                "agent:prioritized-sweeping",
                *("--agent.alpha", repr(dyna_q.alpha), "--agent.gamma", repr(dyna_q.gamma)),
                *("--agent.epsilon", repr(dyna_q.epsilon), "--agent.planning-steps", str(n)),
                *("--agent.model", str(dyna_q.model)),
            ),
        ),
    }


def summarise_run(run_dir: Path, target: float) -> dict[str, float]:
    """Final greedy return, first episode (and env steps) reaching ``target``, env steps per
    wall second; from the run directory."""
    rows = read_metrics(run_dir)
    evals = [r for r in rows if math.isfinite(r.get("eval_return", math.nan))]
    hit = next((r for r in evals if r["eval_return"] >= target), None)
    return {
        "final": float(evals[-1]["eval_return"]),
        "episode": float(hit["episode"]) if hit else math.nan,
        "steps": float(hit["env_steps"]) if hit else math.nan,
        "steps_per_s": rows[-1]["env_steps"] / max(float(rows[-1]["wall_seconds"]), 1e-9),
    }


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 per env and agent")
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    settings = sweep_settings(args, BENCHMARK, train_args)
    seeds = list(range(args.seeds))
    header = f"{'env':16} {'agent':16} {'final eval':>10} {'target':>7} {'ep. to target':>13}"
    print(header + f" {'steps to target':>15} {'reached':>7} {'steps/s':>8}")
    rows, curves = [], []
    for env_id in args.envs:
        for name, (folder, agent_args) in agents(env_id).items():
            fixed = ("--no-progress", *agent_args)
            dirs = run_seeds(settings, f"{slug(env_id)}-{folder}", "dyna-q", [env_id], seeds, fixed)
            runs = [summarise_run(d, TARGETS[env_id]) for d in dirs]
            curves += [curve_record(d, name) for d in dirs]
            final = np.mean([r["final"] for r in runs])
            reached = [r for r in runs if np.isfinite(r["episode"])]
            episode = np.median([r["episode"] for r in runs]) if len(reached) == len(runs) else None
            steps = np.median([r["steps"] for r in runs]) if episode is not None else None
            speed = np.mean([r["steps_per_s"] for r in runs])
            ep_text = "-" if episode is None else f"{episode:.0f}"
            steps_text = "-" if steps is None else f"{steps:.0f}"
            print(
                f"{env_id:16} {name:16} {final:10.2f} {TARGETS[env_id]:7.2f} {ep_text:>13} "
                f"{steps_text:>15} {len(reached)}/{len(runs):<5} {speed:8.0f}",
                flush=True,
            )
            rows.append([
                env_id, name, round(float(final), 2), TARGETS[env_id],
                None if episode is None else round(float(episode)),
                None if steps is None else round(float(steps)),
                f"{len(reached)}/{len(runs)}", round(float(speed)),
            ])  # fmt: skip
    columns = ["env", "agent", "final greedy return (mean)", "target",
               "first episode on target (median)", "env steps to it (median)", "seeds on target",
               "env steps / s"]  # fmt: skip
    extra = {"seeds": seeds, "targets": TARGETS, "out": str(settings.out)}
    write_results(BENCHMARK, {"agents": Table.of(columns, rows)}, curves, extra, args.results_dir)


if __name__ == "__main__":
    main()
