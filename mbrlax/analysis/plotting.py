"""Learning curves from run directories."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.analysis.compare import group_runs, load_run, mean_curve


def plot_learning_curves(
    run_dirs: Sequence[str | Path], out_path: str | Path, title: str | None = None
) -> Path:
    """Plot eval return against env steps for run directories, one colour per (algo, env).

    When training episodes differ in length (episodes that end at a goal, as in the mazes,
    where the length is what learning shortens), a second panel shows steps per episode
    against the episode, averaged over seeds, on a log scale.

    A group of one run shows its eval return (solid, with markers) and its training episodes
    (faded). A group of several seeds shows the mean eval return over seeds in bold with a band
    of +- one standard error, over each seed's eval curve (thin); seeds evaluated at different
    steps are interpolated onto a common grid (see ``mbrlax.analysis.compare.mean_curve``).
    Returns the PNG path, written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display is needed to save a PNG
    import matplotlib.pyplot as plt

    groups = group_runs(load_run(d) for d in run_dirs)
    show_lengths = any(_lengths_vary(run) for runs in groups.values() for run in runs)
    if show_lengths:
        fig, (ax, ax_len) = plt.subplots(1, 2, figsize=(12, 4.2), dpi=110)
        _plot_episode_lengths(ax_len, groups)
    else:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for i, ((algo, env), runs) in enumerate(groups.items()):
        color = f"C{i}"
        label = f"{algo} on {env}"
        if len(runs) == 1:
            run = runs[0]
            if run.evaluated:  # else evals are the training episodes themselves
                ax.plot(run.env_steps, run.train_return, color=color, alpha=0.25, lw=1)
            ax.plot(*run.evals, color=color, lw=1.2, marker="o", ms=3, label=f"{label} (1 run)")
            continue
        for run in runs:
            ax.plot(*run.evals, color=color, alpha=0.3, lw=0.8)
        stats = mean_curve([run.evals for run in runs])
        ax.fill_between(
            stats.env_steps, stats.mean - stats.se, stats.mean + stats.se, color=color, alpha=0.2
        )
        ax.plot(
            stats.env_steps, stats.mean, color=color, lw=2.2, label=f"{label} ({len(runs)} seeds)"
        )
    all_runs = [run for runs in groups.values() for run in runs]
    if any(len(runs) == 1 and runs[0].evaluated for runs in groups.values()):
        ax.plot([], [], color="gray", alpha=0.3, label="train episodes (faded)")
    if any(len(runs) > 1 for runs in groups.values()):
        ax.plot([], [], color="gray", alpha=0.3, lw=0.8, label="single seeds (thin)")
        default_title = "Learning curves (eval return; mean ± 1 s.e. over seeds)"
    else:
        default_title = "Learning curve (eval return, mean over eval episodes)"
    if not any(run.evaluated for run in all_runs):
        default_title = "Episode returns (no evaluation episodes: the training episodes)"
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title or default_title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        return save_png_atomic(fig, out_path)
    finally:
        plt.close(fig)


def save_png_atomic(fig, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as a PNG at ``path`` through a temporary file and a rename, so that a
    reader (or a crash) never sees half a picture; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _lengths_vary(run) -> bool:
    lengths = run.episode_length[np.isfinite(run.episode_length)]
    return lengths.size > 1 and lengths.min() != lengths.max()


def _plot_episode_lengths(ax, groups) -> None:
    """Steps per training episode against the episode, mean over each group's seeds."""
    for i, ((algo, env), runs) in enumerate(groups.items()):
        n = min(len(run.episode_length) for run in runs)
        if n == 0:
            continue
        lengths = np.stack([run.episode_length[:n] for run in runs])
        episodes = np.arange(1, n + 1)
        if len(runs) > 1:
            for row in lengths:
                ax.plot(episodes, row, color=f"C{i}", alpha=0.15, lw=0.6)
        label = f"{algo} on {env}" + (f" (mean of {len(runs)})" if len(runs) > 1 else "")
        ax.plot(episodes, lengths.mean(axis=0), color=f"C{i}", lw=1.8, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training episode")
    ax.set_ylabel("steps per episode")
    ax.set_title("Steps per training episode")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", fontsize=8)
