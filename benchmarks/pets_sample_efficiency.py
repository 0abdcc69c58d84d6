"""PETS sample efficiency: eval return per episode and wall time, several seeds per env.

Targets (issue 2): Pendulum-v1 mean eval return >= -200 by episode 10 (2,000 env steps), each
run under 5 minutes on 2 cores; mbrlax/CartpoleSwingup-v0 >= 170 by episode 15, each run
under 20 minutes.

Every seed is a trial of ``mbrlax sweep`` (Ray when installed, else one after another): an
ordinary run directory under ``--out`` (default ``~/mbrlax-bench/pets_sample_efficiency``, one
folder per env and reward), so rerunning the same command continues it (finished seeds are
skipped, unfinished ones resumed). The tables and per-seed curves are read back from the run
directories into ``benchmarks/results/pets_sample_efficiency.json`` (tables ``summary`` and
``per_seed``; with ``--learn-reward``, ``pets_sample_efficiency-learned_reward.json``).

``--compare-learned-reward`` trains every env and seed twice, with the env's exact reward
function and with the reward learned by the ensemble (``--agent.learn-reward``), and reports
per seed the episodes the learned-reward run needed to reach 90% of the exact-reward run's
final return (same seed), the final return being the mean of its last 3 evaluations (one
evaluation episode from a random start is noisy). For returns of either sign "90% of R" is
``R - 0.1 |R|``: 90% of a positive return, and 10% more cost for a negative one (-200 becomes
-220). A run reaches it at the first episode at which the mean of its last 3 evaluations (fewer
at the start) is ``>=`` that; the exact-reward run's own episode is given
beside it. Results: ``benchmarks/results/pets_learned_reward.json``. An env of your own
(``my_pkg.envs:MyEnv-v0``) needs its reward registered (``mbrlax.envs.register_task``) when its
module is imported, or there is no exact reward to compare with.

    python benchmarks/pets_sample_efficiency.py                      # both envs, 3 seeds
    python benchmarks/pets_sample_efficiency.py --envs Pendulum-v1 --seeds 0
    python benchmarks/pets_sample_efficiency.py --compare-learned-reward
    python benchmarks/pets_sample_efficiency.py --envs Pendulum-v1 --seeds 0 --episodes 2 \\
        --out /tmp/pets-smoke --results-dir /tmp/results -- --agent.planner.population 50
"""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.training.bench import (
    SweepSettings,
    Table,
    add_sweep_arguments,
    curve_record,
    mean_se_text,
    per_seed_text,
    run_seeds,
    slug,
    split_train_args,
    sweep_settings,
    write_results,
)
from mbrlax.training.logger import read_metrics

BENCHMARK = "pets_sample_efficiency"
# env -> (episodes, target eval return, time limit per run in seconds)
TARGETS = {"Pendulum-v1": (10, -200.0, 300.0), "mbrlax/CartpoleSwingup-v0": (15, 170.0, 1200.0)}
DEFAULT_EPISODES = 10  # envs without a target
FRACTION = 0.9  # of the exact-reward run's final return, for --compare-learned-reward
WINDOW = 3  # evaluations averaged: one episode from a random start is noisy (Pendulum: -0.4)


def episodes_for(env: str, override: int | None) -> int:
    return override if override is not None else TARGETS.get(env, (DEFAULT_EPISODES,))[0]


def train_seeds(
    settings: SweepSettings, env: str, seeds: Sequence[int], episodes: int, learn_reward: bool
) -> list[Path]:
    """The run directories of PETS (the env's preset) on ``env``, one per seed."""
    fixed = ["--episodes", str(episodes), "--no-progress"]
    if learn_reward:
        fixed.append("--agent.learn-reward")
    group = f"{slug(env)}-{'learned' if learn_reward else 'exact'}-reward"
    return run_seeds(settings, group, "pets", [env], seeds, fixed)


def eval_by_episode(run_dir: Path) -> tuple[list[int], list[float], float]:
    """``(episodes, eval returns, wall seconds)`` of a run's evaluated rows."""
    rows = read_metrics(run_dir)
    evals = [r for r in rows if math.isfinite(r.get("eval_return", math.nan))]
    episodes = [int(r["episode"]) for r in evals]
    return episodes, [float(r["eval_return"]) for r in evals], float(rows[-1]["wall_seconds"])


def trailing_means(returns: Sequence[float], window: int = WINDOW) -> list[float]:
    """The mean of each evaluation and the ``window - 1`` before it (fewer at the start)."""
    return [float(np.mean(returns[max(0, i + 1 - window) : i + 1])) for i in range(len(returns))]


def first_episode_reaching(run_dir: Path, threshold: float) -> int | None:
    """The first episode at which the mean of the last ``WINDOW`` eval returns (fewer at the
    start) is ``>= threshold`` (None: never)."""
    episodes, returns, _ = eval_by_episode(run_dir)
    means = trailing_means(returns)
    return next((e for e, v in zip(episodes, means, strict=True) if v >= threshold), None)


def fraction_of(final: float, fraction: float = FRACTION) -> float:
    """``fraction`` of a return of either sign: ``R - (1 - fraction) |R|``."""
    return final - (1.0 - fraction) * abs(final)


def sample_efficiency(args, settings: SweepSettings) -> None:
    """The main benchmark: final eval return, worst seed and slowest run per env."""
    summary, per_seed, runs = [], [], []
    series = "pets, learned reward" if args.learn_reward else "pets"
    for env in args.envs:
        episodes = episodes_for(env, args.episodes)
        _, target, limit = TARGETS.get(env, (episodes, None, None))
        dirs = train_seeds(settings, env, args.seeds, episodes, args.learn_reward)
        finals, walls, curves = [], [], []
        for seed, run_dir in zip(args.seeds, dirs, strict=True):
            eps, evals, wall = eval_by_episode(run_dir)
            finals.append(evals[-1])
            walls.append(wall)
            curves.append(evals)
            per_seed.append([env, seed, eps[-1], round(evals[-1], 1), round(wall)])
            runs.append(curve_record(run_dir, series))
            print(
                f"{env} seed {seed}: eval return by episode: "
                + " ".join(f"{e:.0f}" for e in evals)
                + f" | wall {wall:.0f}s",
                flush=True,
            )
        n = min(len(c) for c in curves)
        mean_curve = np.mean([c[:n] for c in curves], axis=0)
        print(f"{env} mean over seeds by episode: " + " ".join(f"{e:.0f}" for e in mean_curve))
        reached = sum(f >= target for f in finals) if target is not None else None
        summary.append(
            [
                env,
                len(args.seeds),
                episodes,
                mean_se_text(finals),
                round(min(finals), 1),
                f">= {target:g}" if target is not None else None,
                f"{reached}/{len(finals)}" if reached is not None else None,
                round(max(walls)),
                limit,
            ]
        )
    columns = [
        "env",
        "seeds",
        "episodes",
        "final eval (mean ± s.e.)",
        "worst seed",
        "target",
        "seeds on target",
        "slowest run s",
        "limit s",
    ]
    print()
    print(" | ".join(columns))
    for row in summary:
        print(" | ".join("-" if v is None else str(v) for v in row))
    name = BENCHMARK + ("-learned_reward" if args.learn_reward else "")
    tables = {
        "summary": Table.of(columns, summary),
        "per_seed": Table.of(["env", "seed", "episodes", "final eval", "wall s"], per_seed),
    }
    extra = {"seeds": args.seeds, "learn_reward": args.learn_reward, "out": str(settings.out)}
    write_results(name, tables, runs, extra, results_dir=args.results_dir)


def has_exact_reward(env: str) -> bool:
    """Whether mbrlax knows ``env``'s reward (an env of ``module:Id`` form is imported first,
    so that its module can register its task)."""
    from mbrlax.envs import get_task

    if ":" in env:
        importlib.import_module(env.split(":", 1)[0])
    task = get_task(env)
    return task is not None and task.reward is not None


def compare_learned_reward(args, settings: SweepSettings) -> None:
    """Exact against learned reward: episodes for the learned one to reach 90% of the exact
    one's final return, per seed."""
    per_seed, summary, runs = [], [], []
    for env in args.envs:
        if not has_exact_reward(env):
            print(
                f"{env}: mbrlax knows no reward function for it, so both runs would learn "
                "the reward; register it (mbrlax.envs.register_task) in the env's module. "
                "Skipped.",
                flush=True,
            )
            continue
        episodes = episodes_for(env, args.episodes)
        exact = train_seeds(settings, env, args.seeds, episodes, learn_reward=False)
        learned = train_seeds(settings, env, args.seeds, episodes, learn_reward=True)
        exact_finals, learned_finals, reach_learned, reach_exact = [], [], [], []
        for seed, e_dir, l_dir in zip(args.seeds, exact, learned, strict=True):
            runs += [curve_record(e_dir, "exact reward"), curve_record(l_dir, "learned reward")]
            exact_final = trailing_means(eval_by_episode(e_dir)[1])[-1]
            learned_final = trailing_means(eval_by_episode(l_dir)[1])[-1]
            threshold = fraction_of(exact_final)
            hit_learned = first_episode_reaching(l_dir, threshold)
            hit_exact = first_episode_reaching(e_dir, threshold)
            exact_finals.append(exact_final)
            learned_finals.append(learned_final)
            reach_learned.append(hit_learned)
            reach_exact.append(hit_exact)
            per_seed.append(
                [
                    env,
                    seed,
                    round(exact_final, 1),
                    round(threshold, 1),
                    round(learned_final, 1),
                    hit_exact,
                    hit_learned,
                ]
            )
            print(
                f"{env} seed {seed}: exact final {exact_final:.1f}, 90% -> {threshold:.1f}; "
                f"reached at episode {hit_exact} (exact), {hit_learned} (learned; final "
                f"{learned_final:.1f})",
                flush=True,
            )
        reached = [e for e in reach_learned if e is not None]
        summary.append(
            [
                env,
                len(args.seeds),
                episodes,
                mean_se_text(exact_finals),
                mean_se_text(learned_finals),
                f"{len(reached)}/{len(args.seeds)}",
                per_seed_text(reach_exact),
                per_seed_text(reach_learned),
            ]
        )
    columns = [
        "env",
        "seeds",
        "episodes",
        f"exact reward: mean of last {WINDOW} evals",
        f"learned reward: mean of last {WINDOW} evals",
        "learned reached 90%",
        "episode reaching 90%, exact (per seed)",
        "episode reaching 90%, learned (per seed)",
    ]
    print()
    print(" | ".join(columns))
    for row in summary:
        print(" | ".join("-" if v is None else str(v) for v in row))
    tables = {
        "summary": Table.of(columns, summary),
        "per_seed": Table.of(
            [
                "env",
                "seed",
                f"exact: mean of last {WINDOW} evals",
                "90% of it",
                f"learned: mean of last {WINDOW} evals",
                "exact: episode reaching it",
                "learned: episode reaching it",
            ],
            per_seed,
        ),
    }
    extra = {
        "seeds": args.seeds,
        "fraction": FRACTION,
        "definition": f"final = mean of the last {WINDOW} eval returns; threshold = "
        "exact_final - 0.1 * |exact_final|; a run reaches it at the first episode at which the "
        f"mean of its last {WINDOW} eval returns (fewer at the start) is >= threshold",
        "out": str(settings.out),
    }
    write_results("pets_learned_reward", tables, runs, extra, results_dir=args.results_dir)


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--envs",
        nargs="+",
        default=list(TARGETS),
        help="env ids; yours as module:Env-v0 (default: %(default)s)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="training episodes of every env (default: 10 for Pendulum-v1, "
        "15 for the cart-pole swing-up, 10 for others)",
    )
    parser.add_argument(
        "--learn-reward",
        action="store_true",
        help="learn the reward (--agent.learn-reward) instead of the exact one",
    )
    parser.add_argument(
        "--compare-learned-reward",
        action="store_true",
        help="train exact and learned reward, episodes to 90%% per seed",
    )
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    settings = sweep_settings(args, BENCHMARK, train_args)
    if args.compare_learned_reward:
        if args.learn_reward:
            parser.error("--compare-learned-reward trains both rewards; drop --learn-reward.")
        compare_learned_reward(args, settings)
    else:
        sample_efficiency(args, settings)


if __name__ == "__main__":
    main()
