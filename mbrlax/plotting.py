"""Learning curves from run directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.logger import read_config, read_metrics


def plot_learning_curves(
    run_dirs: Sequence[str | Path], out_path: str | Path, title: str | None = None
) -> Path:
    """Plot eval (solid) and train (faded) return against env steps for each run.

    Runs whose resolved configs share ``env`` and agent are drawn in one colour, with the mean
    over seeds in bold when there are several. Returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display is needed to save a PNG
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    groups: dict[str, list[list[dict]]] = {}
    for run_dir in run_dirs:
        cfg = read_config(run_dir)
        label = f"{cfg.get('algo', 'agent')} on {cfg.get('env', '?')}"
        groups.setdefault(label, []).append(read_metrics(run_dir))
    for i, (label, runs) in enumerate(groups.items()):
        color = f"C{i}"
        curves = []
        for rows in runs:
            steps = np.array([r["env_steps"] for r in rows], float)
            train = np.array([r["train_return"] for r in rows], float)
            evals = np.array([r.get("eval_return", np.nan) for r in rows], float)
            ax.plot(steps, train, color=color, alpha=0.25, lw=1)
            ok = np.isfinite(evals)
            ax.plot(
                steps[ok],
                evals[ok],
                color=color,
                alpha=0.6 if len(runs) > 1 else 1.0,
                lw=1.2,
                marker="o",
                ms=3,
            )
            curves.append((steps[ok], evals[ok]))
        if len(runs) > 1:
            n = min(len(s) for s, _ in curves)
            if n:
                mean = np.mean([e[:n] for _, e in curves], axis=0)
                ax.plot(curves[0][0][:n], mean, color=color, lw=2.5)
        plural = "s" if len(runs) > 1 else ""
        ax.plot([], [], color=color, lw=2, label=f"{label} ({len(runs)} run{plural})")
    ax.plot([], [], color="gray", alpha=0.3, label="train episodes (faded)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title or "Learning curve (eval return, mean over eval episodes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
