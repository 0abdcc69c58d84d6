"""Figure 8.2 of Sutton & Barto (2nd ed.): Dyna-Q on the Dyna maze, steps per episode.

30 runs of 50 episodes for ``n = 0, 5, 50`` planning steps (alpha 0.1, epsilon 0.1, gamma
0.95), each setting one ``jit(vmap(run_episodes))`` over 30 keys. Prints the mean steps per
episode at a few episodes, the compile and run times, and saves the curves as a PNG.

    python benchmarks/dyna_maze.py --out runs/dyna/fig8_2.png
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import numpy as np

from mbrlax.agents import dyna
from mbrlax.envs.maze import dyna_maze

PLANNING_STEPS = (0, 5, 50)
SHOWN_EPISODES = (1, 2, 3, 5, 10, 20, 50)


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


if __name__ == "__main__":
    main()
