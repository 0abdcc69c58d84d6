"""Pictures of a learned model against the truth (see :mod:`mbrlax.models.diagnostics`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.analysis.plotting import save_png_atomic
from mbrlax.models.diagnostics import LatentOpenLoop, OpenLoop


def plot_model_diagnostics(
    pred: OpenLoop,
    errors: np.ndarray,
    out_path: str | Path,
    start: int = 0,
    title: str = "",
    dim_names: Sequence[str] | None = None,
) -> Path:
    """One panel per state dimension (truth, predicted mean +- one sigma, open loop from step
    ``start``) and a last panel with the multi-step error against the horizon; saved as a PNG
    (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display is needed to save a PNG
    import matplotlib.pyplot as plt

    mean, std, truth = (np.asarray(a) for a in pred)
    dims = truth.shape[1]
    cols = min(4, dims + 1)
    rows = math.ceil((dims + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.4 * rows), dpi=100, squeeze=False)
    steps = start + np.arange(truth.shape[0])
    for i in range(dims):
        ax = axes.flat[i]
        ax.plot(steps, truth[:, i], color="k", lw=1.2, label="real")
        ax.plot(steps, mean[:, i], color="C0", lw=1.2, label="model mean")
        ax.fill_between(
            steps, mean[:, i] - std[:, i], mean[:, i] + std[:, i], color="C0", alpha=0.25,
            lw=0, label="+- 1 sigma",
        )  # fmt: skip
        name = dim_names[i] if dim_names is not None else f"obs[{i}]"
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        # Keep the truth readable when the prediction diverges.
        lo, hi = truth[:, i].min(), truth[:, i].max()
        pad = 0.5 * max(hi - lo, 1e-3)
        ax.set_ylim(lo - pad, hi + pad)
    axes.flat[0].legend(fontsize=7, loc="best")
    ax = axes.flat[dims]
    horizons = np.arange(1, len(errors) + 1)
    ax.plot(horizons, np.asarray(errors), color="C3", lw=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("steps ahead", fontsize=8)
    ax.set_title("multi-step error (normalised MSE)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.tick_params(labelsize=7)
    for extra in axes.flat[dims + 1 :]:
        extra.axis("off")
    fig.suptitle(title or "open-loop model prediction along a real trajectory", fontsize=10)
    fig.tight_layout()
    try:
        return save_png_atomic(fig, out_path)
    finally:
        plt.close(fig)


def plot_latent_open_loop(
    pred: LatentOpenLoop,
    out_path: str | Path,
    first_step: int = 0,
    title: str = "",
    columns: int = 10,
) -> Path:
    """A latent model's open-loop prediction against the truth, saved as a PNG (atomically).

    Frames: three rows of ``columns`` evenly spaced steps, the real frames, the model's
    imagined ones from the same start and actions, and their absolute difference; vectors: one
    panel per entry. A last panel puts the predicted rewards against the real ones.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    truth, predicted, true_r, pred_r = (np.asarray(a, np.float64) for a in pred)
    horizon = truth.shape[0]
    steps = first_step + 1 + np.arange(horizon)
    if truth.ndim == 4:  # frames [H, S, S, 3] in [0, 255]
        picks = np.unique(np.linspace(0, horizon - 1, min(columns, horizon)).round().astype(int))
        fig = plt.figure(figsize=(1.3 * len(picks), 6.2), dpi=110)
        grid = fig.add_gridspec(4, len(picks), height_ratios=[1, 1, 1, 1.6])
        rows = (
            ("real", truth),
            ("model", predicted),
            ("|difference|", np.abs(truth - predicted)),
        )
        for r, (name, frames) in enumerate(rows):
            for c, t in enumerate(picks):
                ax = fig.add_subplot(grid[r, c])
                ax.imshow(np.clip(frames[t], 0, 255).astype(np.uint8), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"t={steps[t]}", fontsize=7)
                if c == 0:
                    ax.set_ylabel(name, fontsize=8)
        reward_ax = fig.add_subplot(grid[3, :])
    else:
        dims = truth.shape[1]
        cols = min(4, dims + 1)
        n_rows = math.ceil((dims + 1) / cols)
        fig, axes = plt.subplots(
            n_rows, cols, figsize=(3.4 * cols, 2.4 * n_rows), dpi=100, squeeze=False
        )
        for i in range(dims):
            ax = axes.flat[i]
            ax.plot(steps, truth[:, i], color="k", lw=1.2, label="real")
            ax.plot(steps, predicted[:, i], color="C0", lw=1.2, label="model (open loop)")
            ax.set_title(f"obs[{i}]", fontsize=9)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7, loc="best")
        for ax in axes.flat[dims + 1 :]:
            ax.set_visible(False)
        reward_ax = axes.flat[dims]
    reward_ax.plot(steps, true_r, color="k", lw=1.2, label="real reward")
    reward_ax.plot(steps, pred_r, color="C1", lw=1.2, label="predicted reward")
    reward_ax.set_xlabel("env step", fontsize=8)
    reward_ax.legend(fontsize=7, loc="best")
    reward_ax.tick_params(labelsize=7)
    reward_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        return save_png_atomic(fig, out_path)
    finally:
        plt.close(fig)


def save_latent_open_loop_video(
    pred: LatentOpenLoop, out_path: str | Path, fps: float = 10.0, height: int = 192
) -> Path:
    """A frame model's open-loop prediction as an MP4: each video frame shows the real frame,
    the imagined one and their absolute difference side by side, scaled up (nearest) to about
    ``height`` pixels. Written atomically; returns the path.

    Raises:
        ValueError: the prediction is of vectors, not frames.
    """
    from mbrlax.analysis.video import save_frames_mp4

    truth, predicted = np.asarray(pred.truth), np.asarray(pred.predicted)
    if truth.ndim != 4:
        raise ValueError("an open-loop video needs a model of frames; vectors are plotted.")
    zoom = max(1, height // truth.shape[1])
    gap = np.full((truth.shape[0], truth.shape[1], 2, 3), 255.0)
    side = np.concatenate([truth, gap, predicted, gap, np.abs(truth - predicted)], axis=2)
    side = np.clip(side, 0, 255).astype(np.uint8)
    side = side.repeat(zoom, axis=1).repeat(zoom, axis=2)
    return save_frames_mp4(side, out_path, fps)
