"""Pictures of a learned model against the truth (see :mod:`mbrlax.models.diagnostics`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbrlax.analysis.plotting import save_png_atomic
from mbrlax.models.diagnostics import OpenLoop


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
