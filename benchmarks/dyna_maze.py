"""Figures 8.2, 8.4 and 8.5 of Sutton & Barto (2nd ed.): Dyna-Q and Dyna-Q+ on the mazes.

Figure 8.2: 30 runs of 50 episodes of Dyna-Q on the Dyna maze for ``n = 0, 5, 50`` planning
steps (alpha 0.1, epsilon 0.1, gamma 0.95), each setting one ``jit(vmap(run_episodes))`` over
30 keys; prints the mean steps per episode at a few episodes.

Figures 8.4 and 8.5: cumulative reward of Dyna-Q and Dyna-Q+ on the blocking maze (3000
steps, the walls change at 1000) and the shortcut maze (6000 steps, change at 3000), each agent
one ``jit(vmap(run_steps))`` over the runs' keys; prints the mean cumulative reward at a few
steps. The book does not give every setting of these figures; we use ``n = 10`` planning
steps (as the book's text says), ``alpha = 1`` (the environment is deterministic, so the last
target is the right one; as in Zhang's reference code of the book's figures), epsilon 0.1,
gamma 0.95 and ``kappa = 1e-3`` for Dyna-Q+. With these the book's result holds: on the
blocking maze Dyna-Q+ finds the new path far sooner; on the shortcut maze Dyna-Q+ finds the
shortcut and Dyna-Q never does within the 6000 steps (its reward rate stays that of the
16-step path).

Example 8.4 (prioritized sweeping): Q-learning updates (direct and planning) until the greedy
policy walks the 14-step path of the Dyna maze, for Dyna-Q and prioritized sweeping with the
same settings (alpha 0.5, n 5, epsilon 0.1, gamma 0.95; theta 1e-4), checked at the end of
each of 50 episodes; prints the median over the runs that get there and how many do.

Every figure is saved as a PNG in the folder of ``--out``: ``fig8_2.png``, ``fig8_4.png``,
``fig8_5.png``. The tables go to ``benchmarks/results/dyna_maze.json`` (``fig8_2``,
``fig8_4``, ``fig8_5``, ``example8_4`` and ``timing``).

    python benchmarks/dyna_maze.py --out runs/dyna/fig8_2.png
"""

from __future__ import annotations

import argparse
import pathlib
import time
from typing import NamedTuple

import jax
import numpy as np

from mbrlax.agents import dyna
from mbrlax.envs.maze import Maze, blocking_maze, dyna_maze, shortcut_maze, shortest_path_length
from mbrlax.training.bench import Table, add_results_argument, write_results

PLANNING_STEPS = (0, 5, 50)
SHOWN_EPISODES = (1, 2, 3, 5, 10, 20, 50)

CHANGING_AGENTS = {
    "Dyna-Q": dyna.DynaQ(alpha=1.0, epsilon=0.1, gamma=0.95, planning_steps=10),
    "Dyna-Q+": dyna.DynaQ(alpha=1.0, epsilon=0.1, gamma=0.95, planning_steps=10, kappa=1e-3),
}
"""The agents of Figures 8.4 and 8.5 (settings in the module docstring)."""

SWEEPING_AGENTS = {
    "Dyna-Q": dyna.DynaQ(alpha=0.5, epsilon=0.1, gamma=0.95, planning_steps=5),
    "prioritized sweeping": dyna.PrioritizedSweeping(
        alpha=0.5, epsilon=0.1, gamma=0.95, planning_steps=5, theta=1e-4
    ),
}
"""The agents of the Example 8.4 comparison (same settings for both)."""


class ChangingMazeFigure(NamedTuple):
    """One of Figures 8.4 / 8.5: which maze, for how long, and the steps shown in the table."""

    number: str
    maze: Maze
    num_steps: int
    shown_steps: tuple[int, ...]


def changing_maze_figures() -> tuple[ChangingMazeFigure, ...]:
    """Figure 8.4 (blocking maze, 3000 steps) and Figure 8.5 (shortcut maze, 6000 steps)."""
    return (
        ChangingMazeFigure("8.4", blocking_maze(1000), 3000, (500, 1000, 1500, 2000, 3000)),
        ChangingMazeFigure("8.5", shortcut_maze(3000), 6000, (1000, 3000, 4000, 5000, 6000)),
    )


def run(
    num_runs: int = 30, num_episodes: int = 50, seed: int = 0
) -> tuple[dict[int, np.ndarray], float, float]:
    """Mean steps per episode ``{n: [E]}``, compile seconds and run seconds (all settings)."""
    maze = dyna_maze()
    keys = jax.random.split(jax.random.key(seed), num_runs)
    compiled, compile_s, run_s, curves = {}, 0.0, 0.0, {}
    for n in PLANNING_STEPS:
        config = dyna.DynaQ(alpha=0.1, epsilon=0.1, gamma=0.95, planning_steps=n)
        start = time.perf_counter()
        fn = jax.jit(jax.vmap(lambda k, c=config: dyna.run_episodes(c, maze, k, num_episodes)))
        compiled[n] = fn.lower(keys).compile()
        compile_s += time.perf_counter() - start
    for n in PLANNING_STEPS:
        start = time.perf_counter()
        steps = compiled[n](keys).block_until_ready()
        run_s += time.perf_counter() - start
        curves[n] = np.asarray(steps).mean(axis=0)
    return curves, compile_s, run_s


def run_changing(
    figure: ChangingMazeFigure, num_runs: int = 30, seed: int = 0
) -> tuple[dict[str, np.ndarray], float]:
    """Mean cumulative reward ``{agent: [T]}`` over ``num_runs`` runs, and total seconds."""
    keys = jax.random.split(jax.random.key(seed), num_runs)
    curves, start = {}, time.perf_counter()
    for name, config in CHANGING_AGENTS.items():
        fn = jax.jit(
            jax.vmap(lambda k, c=config: dyna.run_steps(c, figure.maze, k, figure.num_steps)[1])
        )
        curves[name] = np.asarray(fn(keys)).mean(axis=0)
    return curves, time.perf_counter() - start


def run_sweeping(
    num_runs: int = 30, num_episodes: int = 50, seed: int = 0
) -> tuple[dict[str, np.ndarray], float]:
    """Updates until the greedy path is optimal ``{agent: [runs]}`` (-1: never), and seconds."""
    maze = dyna_maze()
    optimal = shortest_path_length(maze.wall_grid(), maze.start, maze.goal)
    keys = jax.random.split(jax.random.key(seed), num_runs)
    needed, start = {}, time.perf_counter()
    for name, config in SWEEPING_AGENTS.items():
        fn = jax.jit(
            jax.vmap(
                lambda k, c=config: dyna.updates_until_optimal(
                    dyna.learning_curve(c, maze, k, num_episodes), optimal
                )
            )
        )
        needed[name] = np.asarray(fn(keys))
    return needed, time.perf_counter() - start


def save_changing_plot(
    figure: ChangingMazeFigure, curves: dict[str, np.ndarray], out: pathlib.Path
) -> None:
    """Cumulative reward against time steps, one line per agent (Figures 8.4/8.5), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
    ax.axvline(figure.maze.change_at, color="gray", linestyle=":", label="walls change")
    ax.set_xlabel("Time steps")
    ax.set_ylabel("Cumulative reward")
    ax.set_title(f"{figure.maze.name} (Sutton & Barto, Figure {figure.number})")
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def save_plot(curves: dict[int, np.ndarray], out: pathlib.Path) -> None:
    """Steps per episode against episode, one line per ``n`` (Figure 8.2's axes), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n, curve in curves.items():
        episodes = np.arange(2, len(curve) + 1)  # the book starts at episode 2 (the 1st is shared)
        ax.plot(episodes, curve[1:], label=f"{n} planning steps")
    ax.set_xlabel("Episodes")
    ax.set_ylabel("Steps per episode")
    ax.set_ylim(0, 800)
    ax.set_title("Dyna-Q on the Dyna maze (Sutton & Barto, Figure 8.2)")
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/dyna/fig8_2.png"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    add_results_argument(parser)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.episodes < 1:
        parser.error("--runs and --episodes must be >= 1")

    curves, compile_s, run_s = run(args.runs, args.episodes, args.seed)
    shown = [e for e in SHOWN_EPISODES if e <= args.episodes]
    print(f"mean steps per episode over {args.runs} runs (Dyna maze, alpha 0.1, eps 0.1, g 0.95)")
    print("episode " + "".join(f"{e:>8d}" for e in shown))
    for n, curve in curves.items():
        print(f"n = {n:<4d}" + "".join(f"{curve[e - 1]:8.1f}" for e in shown))
    print(f"compile: {compile_s:.2f} s   run after compile: {run_s:.2f} s (all settings)")
    save_plot(curves, args.out)
    print(f"saved {args.out}")
    tables = {
        "fig8_2": Table.of(
            ["planning steps n", *(f"episode {e}" for e in shown)],
            [[n, *(round(float(curve[e - 1]), 1) for e in shown)] for n, curve in curves.items()],
        )
    }
    timing = [
        ["Figure 8.2 (all settings): compile", round(compile_s, 2)],
        ["Figure 8.2 (all settings): run after compile", round(run_s, 2)],
    ]

    for figure in changing_maze_figures():
        changing, seconds = run_changing(figure, args.runs, args.seed)
        print(
            f"\nFigure {figure.number}: mean cumulative reward over {args.runs} runs "
            f"({figure.maze.name}, walls change at {figure.maze.change_at}; "
            "alpha 1, n 10, eps 0.1, g 0.95, kappa 1e-3)"
        )
        print("step     " + "".join(f"{t:>8d}" for t in figure.shown_steps))
        for name, curve in changing.items():
            print(f"{name:<9s}" + "".join(f"{curve[t - 1]:8.1f}" for t in figure.shown_steps))
        print(f"compile + run: {seconds:.2f} s (both agents)")
        tables[f"fig{figure.number.replace('.', '_')}"] = Table.of(
            ["agent", *(f"step {t}" for t in figure.shown_steps)],
            [
                [name, *(round(float(curve[t - 1]), 1) for t in figure.shown_steps)]
                for name, curve in changing.items()
            ],
        )
        timing.append([f"Figure {figure.number} (both agents): compile + run", round(seconds, 2)])
        out = args.out.parent / f"fig{figure.number.replace('.', '_')}.png"
        save_changing_plot(figure, changing, out)
        print(f"saved {out}")

    needed, seconds = run_sweeping(args.runs, args.episodes, args.seed)
    print(
        f"\nExample 8.4: updates until the greedy path is optimal, over {args.runs} runs of "
        f"{args.episodes} episodes (Dyna maze, alpha 0.5, n 5, eps 0.1, g 0.95, theta 1e-4)"
    )
    print(f"{'agent':<22s}{'found':>8s}{'median':>10s}{'min':>10s}{'max':>10s}")
    sweeping = []
    for name, updates in needed.items():
        found = updates[updates >= 0]
        stats = (np.median(found), found.min(), found.max()) if found.size else (np.nan,) * 3
        print(
            f"{name:<22s}{found.size:>5d}/{len(updates):<2d}" + "".join(f"{v:10.0f}" for v in stats)
        )
        sweeping.append(
            [
                name,
                f"{found.size}/{len(updates)}",
                *(round(float(v)) if np.isfinite(v) else None for v in stats),
            ]
        )
    print(f"compile + run: {seconds:.2f} s (both agents)")
    tables["example8_4"] = Table.of(
        ["agent", "runs finding the optimal path", "updates (median)", "min", "max"], sweeping
    )
    timing.append(["Example 8.4 (both agents): compile + run", round(seconds, 2)])
    tables["timing"] = Table.of(["what", "seconds"], timing)
    extra = {"runs": args.runs, "episodes": args.episodes, "seed": args.seed}
    write_results("dyna_maze", tables, extra=extra, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
