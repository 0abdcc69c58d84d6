"""Tabular agents on Gymnasium's toy-text envs, through the runner (``mbrlax train dyna-q``).

For FrozenLake-v1 (slippery, 4 x 4), CliffWalking-v1 and Taxi-v4, three agents from each env's
preset (``mbrlax.agents.dyna_presets``): Q-learning (``planning_steps = 0``), Dyna-Q with the
preset's ``n`` and model, and prioritized sweeping with the same ``n``, model and step size.
Each is run for 3 seeds, with a greedy evaluation every ``eval_every`` episodes. Prints, per
(env, agent): the final greedy return (mean over seeds), the first episode whose evaluation
reaches the env's target (median over seeds; ``-`` when a seed never does), the env steps that
took, and training env steps per wall second of the whole run (host loop, evaluations
included).

Targets: CliffWalking -13 (the optimal path along the cliff), Taxi 7 (the optimum averages
about 7.9), FrozenLake 0.6 success (the optimal policy reaches about 0.74 within 100 steps).

    python benchmarks/dyna_gym.py [--seeds 3] [--envs FrozenLake-v1 Taxi-v4]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from mbrlax.agents.dyna import DynaQ, PrioritizedSweeping
from mbrlax.experiment import DynaExperiment, run

ENVS = ("FrozenLake-v1", "CliffWalking-v1", "Taxi-v4")
TARGETS = {"FrozenLake-v1": 0.6, "CliffWalking-v1": -13.0, "Taxi-v4": 7.0}


def agents(env_id: str) -> dict[str, DynaQ | PrioritizedSweeping]:
    """Q-learning, the preset's Dyna-Q, and prioritized sweeping with the same settings."""
    dyna_q = DynaExperiment.preset(env_id).agent
    sweeping = PrioritizedSweeping(
        alpha=dyna_q.alpha,
        gamma=dyna_q.gamma,
        epsilon=dyna_q.epsilon,
        planning_steps=dyna_q.planning_steps,
        model=dyna_q.model,
    )
    return {
        "Q-learning": dataclasses.replace(dyna_q, planning_steps=0),
        f"Dyna-Q n={dyna_q.planning_steps}": dyna_q,
        "prio. sweeping": sweeping,
    }


def one_run(env_id: str, agent: DynaQ | PrioritizedSweeping, seed: int) -> dict[str, float]:
    exp = DynaExperiment.preset(env_id, seed=seed, agent=agent)
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, progress=False))
    start = time.perf_counter()
    rows = run(exp, save=False).rows
    seconds = time.perf_counter() - start
    evals = [(r["episode"], r["env_steps"], r.get("eval_return", np.nan)) for r in rows]
    evals = [e for e in evals if np.isfinite(e[2])]
    hit = [e for e in evals if e[2] >= TARGETS[env_id]]
    return {
        "final": evals[-1][2],
        "episode": hit[0][0] if hit else np.nan,
        "steps": hit[0][1] if hit else np.nan,
        "steps_per_s": rows[-1]["env_steps"] / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    args = parser.parse_args()
    header = f"{'env':16} {'agent':16} {'final eval':>10} {'target':>7} {'ep. to target':>13}"
    print(header + f" {'steps to target':>15} {'reached':>7} {'steps/s':>8}")
    for env_id in args.envs:
        for name, agent in agents(env_id).items():
            runs = [one_run(env_id, agent, seed) for seed in range(args.seeds)]
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


if __name__ == "__main__":
    main()
