"""Pictures of planners at work, as PNGs: MPPI's fan of samples, and predicted vs realised.

Two pictures every model-based control paper shows:

- :func:`plot_mppi_fan`: the futures MPPI sampled at one decision, each drawn faintly and
  coloured by its path-integral weight, the plan it started from (dashed) and the plan it
  chose (bold). For the bicycle car they are drawn on the track (the whole track and a zoom on
  the car); for any other JAX env, each state component against the planning step. The samples
  are exactly those of that ``plan`` call (:func:`mbrlax.planners.mppi.mppi_samples`).
- :func:`plot_predicted_vs_realised`: for any planner run in MPC
  (:func:`mbrlax.agents.mpc.mpc_rollout`), the realised episode against what the planner
  predicted at a few replanning times: the plan chosen at step ``t`` rolled out through the
  model from the state at ``t`` (:func:`predicted_states`). With the exact model the two agree
  on the first step and then part as MPC replans; with a wrong model they part at once.

::

    env = Bicycle()
    state, _ = env.reset(jax.random.key(0))
    plot_mppi_fan(env, state, MPPI(horizon=20, noise_std=1.0), jax.random.key(1), "fan.png")

    planner = MPPI(horizon=20).build_for(env.spec)
    traj = jax.jit(lambda k: mpc_rollout(env, planner, state, k, 100))(jax.random.key(2))
    plot_predicted_vs_realised(env, traj, "predicted.png")

Each function returns the PNG's path (written atomically: a temporary file, then a rename) or,
with ``path=None``, the :class:`matplotlib.figure.Figure` itself. Figures are made without
``pyplot`` and without choosing a backend, so nothing global is touched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from mbrlax.agents.mpc import MPCTrajectory
from mbrlax.analysis.planner_traces import (
    MPPIFan,
    check_env,
    check_mppi,
    check_state,
    check_trajectory,
    default_labels,
    exact_model,
    mppi_decision_at,
    mppi_fan,
    predicted_states,
    resolve_step,
    state_components,
)
from mbrlax.analysis.plotting import save_png_atomic
from mbrlax.analysis.track_drawing import car_outline, draw_car, draw_track, whole_track
from mbrlax.envs.base import EnvState, JaxEnv
from mbrlax.envs.bicycle import Bicycle
from mbrlax.planners.base import GaussianState, StepFn, TerminalValueFn
from mbrlax.planners.mppi import MPPI

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["mppi_decision_at", "plot_mppi_fan", "plot_predicted_vs_realised", "predicted_states"]

_WEIGHT_CMAP = "plasma_r"  # light and faint for negligible weights, dark for the heavy ones
_TIMES_CMAP = "viridis"
_MIN_RELATIVE_WEIGHT = 1e-4  # weights below this fraction of the largest share one colour
_CHOSEN = "#2ca02c"  # the chosen plan, drawn over a black outline


# --------------------------------------------------------------------------- drawing helpers


def _new_figure(figsize: tuple[float, float], dpi: int) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _finish(fig: Figure, path: str | os.PathLike[str] | None) -> Path | Figure:
    """Save ``fig`` as a PNG at ``path`` atomically and return the path; or return ``fig``."""
    if path is None:
        return fig
    return save_png_atomic(fig, path)


def _weight_colours(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Per-sample RGBA (heavier: darker and more opaque), the drawing order (light first),
    and the colormap and norm for a colour bar of ``weight / max weight`` (log scale)."""
    import matplotlib
    from matplotlib.colors import LogNorm

    cmap = matplotlib.colormaps[_WEIGHT_CMAP]
    # Weights are exponential in the return, (return - best) / lambda in the log: a log scale
    # spreads the colours over the samples rather than giving all but the best the same one.
    norm = LogNorm(vmin=_MIN_RELATIVE_WEIGHT, vmax=1.0, clip=True)
    top = weights.max()
    relative = weights / top if top > 0 else np.zeros_like(weights)
    shade = np.asarray(norm(np.maximum(relative, _MIN_RELATIVE_WEIGHT)))
    colours = cmap(shade)
    colours[:, 3] = 0.1 + 0.6 * shade
    return colours, np.argsort(relative, kind="stable"), cmap, norm


def _effective_sample_size(weights: np.ndarray) -> float:
    """``1 / sum w^2``: how many samples the update effectively averaged (``N`` at most)."""
    total = float(np.sum(weights**2))
    return 1.0 / total if total > 0 else 0.0


# --------------------------------------------------------------------------- MPPI's fan


def plot_mppi_fan(
    env: JaxEnv,
    state: EnvState,
    config: MPPI,
    key: PRNGKeyArray,
    path: str | os.PathLike[str] | None = None,
    *,
    pstate: GaussianState | None = None,
    model_step: StepFn | None = None,
    terminal_value: TerminalValueFn | None = None,
    iteration: int = -1,
    title: str | None = None,
    state_labels: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 120,
) -> Path | Figure:
    """Draw the sequences MPPI sampled at one decision, coloured by their weight.

    Redoes ``config.build_for(env.spec, terminal_value).plan(pstate, step, state,
    key)`` with :func:`~mbrlax.planners.mppi.mppi_samples`, so the picture shows exactly the
    samples and weights of that call, and rolls every sample out through the model with the
    keys it was scored with. Drawn: each sample's future (faint, colour and opacity by its
    path-integral weight relative to the heaviest; colour bar), the plan that was perturbed
    (dashed) and the plan the update chose (bold; its first action is the one executed).
    For :class:`~mbrlax.envs.bicycle.Bicycle` the futures are ``(x, y)`` paths on the track,
    next to a zoom on the car; for other envs each state component against the step.

    Args:
        env: the JAX-native env (the model too, unless ``model_step`` is given).
        state: one env state (e.g. ``env.reset(key)[0]``) that the planner plans from.
        config: the :class:`~mbrlax.planners.MPPI` config (not the built planner).
        key: the key ``plan`` is (or was) called with.
        path: where to write the PNG (``.png``); ``None`` returns the figure instead.
        pstate: the planner state of the call (e.g. a warm start); default ``init()``'s.
        model_step: the model MPPI plans with; default ``as_step_fn(env)``, the exact model.
        terminal_value: the ``V(s_H)`` the planner was built with, if any.
        iteration: which of the call's ``config.iterations`` updates to draw; the default,
            the last, is the one whose plan is executed.
        title: the figure's title; default names the env, population and weights' spread.
        state_labels: one label per state component (the generic picture's y axes).
        figsize: ``(width, height)`` in inches; default depends on the picture.
        dpi: resolution; the PNG is ``figsize * dpi`` pixels.

    Returns:
        the PNG's path, or the :class:`~matplotlib.figure.Figure` when ``path`` is ``None``.

    Raises:
        EnvError: ``env`` is not a JAX-native env with continuous actions.
        TypeError: ``config`` is not an ``MPPI`` config.
        ValueError: ``state`` or ``pstate`` does not fit ``env`` and ``config``, or
            ``iteration`` is out of range.
    """
    env = check_env(env, "plot_mppi_fan")
    config = check_mppi(config)
    check_state(env, state, (), "state")
    if not -config.iterations <= iteration < config.iterations:
        raise ValueError(
            f"iteration must index one of the config's {config.iterations} iterations "
            f"(-{config.iterations} to {config.iterations - 1}), got {iteration}."
        )
    low, high = env.spec.action_bounds()
    if pstate is None:
        pstate = config.build(low, high, terminal_value).init()
    expected = (config.horizon, env.spec.action_dim)
    if np.shape(pstate.mean) != expected or np.shape(pstate.std) != expected:
        raise ValueError(
            f"pstate.mean and pstate.std must have shape [H, A] = {list(expected)} for this "
            f"config and env, got {np.shape(pstate.mean)} and {np.shape(pstate.std)}."
        )
    step = exact_model(env) if model_step is None else model_step
    index = iteration % config.iterations
    bounds = (tuple(map(float, low)), tuple(map(float, high)))
    fan = mppi_fan(config, bounds, terminal_value, step, index, pstate, state, key)
    fan = jax.tree.map(np.asarray, fan)
    weights = fan.iteration.weights
    if title is None:
        title = (
            f"MPPI on {env.spec.env_id}: {config.population} samples of {config.horizon} steps, "
            f"λ = {config.temperature:g}\niteration {index + 1} of {config.iterations}, "
            f"effective sample size 1 / Σ w² = {_effective_sample_size(weights):.1f}"
        )
    labels = (
        "plan perturbed" + (" (warm start)" if index == 0 else " (previous update's)"),
        "plan chosen" if index == config.iterations - 1 else "plan after this update",
    )
    if isinstance(env, Bicycle):
        fig = _fan_on_track(env, state, fan, labels, figsize or (12.0, 5.0), dpi)
    else:
        fig = _fan_against_time(env, fan, labels, state_labels, figsize, dpi)
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def _fan_on_track(
    env: Bicycle,
    state: EnvState,
    fan: MPPIFan,
    labels: tuple[str, str],
    figsize: tuple[float, float],
    dpi: int,
) -> Figure:
    """The fan as ``(x, y)`` paths: on the whole track (left) and zoomed on the car (right)."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    fig = _new_figure(figsize, dpi)
    overview, zoom = fig.subplots(1, 2, width_ratios=[1.55, 1.0])
    colours, order, cmap, norm = _weight_colours(fan.iteration.weights)
    paths = np.stack([fan.sample_states.x, fan.sample_states.y], axis=-1)[order]  # [N, H+1, 2]
    for ax, lw in ((overview, 0.5), (zoom, 0.8)):
        draw_track(ax, env.track)
        ax.add_collection(LineCollection(paths, colors=colours[order], linewidths=lw, zorder=3))
        ax.plot(fan.mean_states.x, fan.mean_states.y, color="0.15", lw=1.3, ls="--", zorder=4)
        ax.plot(fan.plan_states.x, fan.plan_states.y, color="black", lw=3.2, zorder=5)
        ax.plot(fan.plan_states.x, fan.plan_states.y, color=_CHOSEN, lw=1.8, zorder=5)
        draw_car(ax, env, state)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
    whole_track(overview, env.track)
    overview.set_title("the track", fontsize=9)
    # The zoom: a square around the car and every sampled path.
    points = np.concatenate([paths.reshape(-1, 2), car_outline(env, state)[0]])
    centre = (points.min(0) + points.max(0)) / 2
    half = max(float((points.max(0) - points.min(0)).max()) / 2 + 0.3, 1.0)
    zoom.set_xlim(centre[0] - half, centre[0] + half)
    zoom.set_ylim(centre[1] - half, centre[1] + half)
    zoom.set_title("zoom on the car", fontsize=9)
    overview.add_patch(
        Rectangle(centre - half, 2 * half, 2 * half, fill=False, ec="0.3", lw=0.8, ls=":")
    )
    _fan_legend(zoom, cmap, labels)
    _weight_colourbar(fig, zoom, cmap, norm)
    return fig


def _fan_legend(ax: Axes, cmap: Any, labels: tuple[str, str]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=cmap(0.6), lw=1, label="sampled sequences"),
        Line2D([], [], color="0.15", lw=1.3, ls="--", label=labels[0]),
        Line2D([], [], color=_CHOSEN, lw=2.2, label=labels[1]),
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9)


def _weight_colourbar(fig: Figure, ax: Axes, cmap: Any, norm: Any) -> None:
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.85, pad=0.02)
    bar.set_label("path-integral weight / largest weight (log scale)", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _fan_against_time(
    env: JaxEnv,
    fan: MPPIFan,
    labels: tuple[str, str],
    state_labels: Sequence[str] | None,
    figsize: tuple[float, float] | None,
    dpi: int,
) -> Figure:
    """The fan as one panel per state component and per action against the planning step."""
    from matplotlib.collections import LineCollection

    default_states, action_labels = default_labels(env)
    samples, names = state_components(fan.sample_states, 2, state_labels or default_states)
    mean, _ = state_components(fan.mean_states, 1, None)
    plan, _ = state_components(fan.plan_states, 1, None)
    it = fan.iteration
    horizon = it.plan.shape[0]
    steps = np.arange(horizon + 1)
    panels = [(names[d], steps, samples[..., d], mean[:, d], plan[:, d]) for d in range(len(names))]
    held = np.repeat(steps, 2)[1:-1]  # action k is held from step k to k + 1
    panels += [
        (label, held, *(np.repeat(v[..., a], 2, axis=-1) for v in (it.samples, it.mean, it.plan)))
        for a, label in enumerate(action_labels)
    ]
    fig = _new_figure(figsize or (7.5, 1.2 + 1.5 * len(panels)), dpi)
    axes = list(np.atleast_1d(fig.subplots(len(panels), 1, sharex=True)))
    colours, order, cmap, norm = _weight_colours(it.weights)
    for ax, (label, xs, fan_ys, mean_ys, plan_ys) in zip(axes, panels, strict=True):
        lines = np.stack(np.broadcast_arrays(xs, fan_ys[order]), axis=-1)  # [N, len(xs), 2]
        ax.add_collection(LineCollection(lines, colors=colours[order], linewidths=0.6, zorder=2))
        ax.plot(xs, mean_ys, color="0.15", lw=1.2, ls="--", zorder=3)
        ax.plot(xs, plan_ys, color="black", lw=3.0, zorder=4)
        ax.plot(xs, plan_ys, color=_CHOSEN, lw=1.7, zorder=4)
        ax.autoscale_view()
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("planning step k (0 = now; actions are held from k to k + 1)")
    axes[-1].set_xlim(0, horizon)
    _fan_legend(axes[0], cmap, labels)
    _weight_colourbar(fig, axes, cmap, norm)
    return fig


# --------------------------------------------------------------------------- predicted vs realised


def plot_predicted_vs_realised(
    env: JaxEnv,
    traj: MPCTrajectory,
    path: str | os.PathLike[str] | None = None,
    *,
    model_step: StepFn | None = None,
    key: PRNGKeyArray | None = None,
    times: Sequence[int] | None = None,
    num_predictions: int = 6,
    title: str | None = None,
    state_labels: Sequence[str] | None = None,
    action_labels: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 120,
) -> Path | Figure:
    """Draw an MPC episode against what the planner predicted at a few replanning times.

    Works for any planner: the prediction at step ``t`` is ``traj.plans[t]`` rolled out through
    the model from ``traj.states[t]`` (:func:`predicted_states`); the realised trajectory is
    what the env did as MPC replanned at every step. One panel per state component and per
    action against the step: the realised episode in bold, each prediction (and the plan's
    actions) as a thin line from its replanning time, a dot where it starts. For
    :class:`~mbrlax.envs.bicycle.Bicycle` a panel beside them shows the same on the track.
    Steps after the episode terminated (``traj.alive`` False) are shaded.

    Args:
        env: the JAX-native env the episode was run in.
        traj: one episode of :func:`mbrlax.agents.mpc.mpc_rollout` (``T`` steps, horizon ``H``).
        path: where to write the PNG (``.png``); ``None`` returns the figure instead.
        model_step: the model the predictions are rolled out through; default the exact model
            ``as_step_fn(env)``. Pass the model the planner used to see its model error.
        key: split into one key per replanning step for a stochastic ``model_step`` (required
            with ``model_step``; the exact model needs none).
        times: the replanning steps to draw predictions from, in ``[0, T)``; default
            ``num_predictions`` of them evenly spread so their horizons end within the episode.
        num_predictions: how many predictions to draw when ``times`` is not given.
        title: the figure's title; default names the env, ``T`` and ``H``.
        state_labels: one label per state component (default: names and units for the
            built-in envs, the state's field names otherwise).
        action_labels: one label per action component.
        figsize: ``(width, height)`` in inches; default grows with the number of panels.
        dpi: resolution; the PNG is ``figsize * dpi`` pixels.

    Returns:
        the PNG's path, or the :class:`~matplotlib.figure.Figure` when ``path`` is ``None``.

    Raises:
        EnvError: ``env`` is not a JAX-native env with continuous actions.
        TypeError: ``traj`` is not an :class:`~mbrlax.agents.mpc.MPCTrajectory`.
        ValueError: ``traj``'s shapes do not fit each other or ``env``, ``times`` are out of
            range, labels have the wrong length, or ``model_step`` comes without ``key``.
    """
    env = check_env(env, "plot_predicted_vs_realised")
    num_steps, horizon = check_trajectory(env, traj)
    step, key = resolve_step(env, model_step, key)
    times = _prediction_times(num_steps, horizon, times, num_predictions)
    default_states, default_actions = default_labels(env)
    if action_labels is not None and len(action_labels) != env.spec.action_dim:
        raise ValueError(
            f"action_labels has {len(action_labels)} entries; {env.spec.env_id} has "
            f"{env.spec.action_dim} actions."
        )
    action_labels = list(action_labels or default_actions)
    predicted = jax.tree.map(np.asarray, predicted_states(traj, step, key))
    realised, names = state_components(traj.states, 1, state_labels or default_states)  # [T+1, D]
    forecast, _ = state_components(predicted, 2, None)  # [T, H+1, D]
    actions, plans = np.asarray(traj.actions), np.asarray(traj.plans)
    alive = np.asarray(traj.alive)

    rows = len(names) + len(action_labels)
    track = isinstance(env, Bicycle)
    fig = _new_figure(figsize or (14.0 if track else 8.0, max(1.4 + 1.3 * rows, 5.0)), dpi)
    if track:
        # Time series on the left; on the right the track over the position error.
        grid = fig.add_gridspec(rows, 2, width_ratios=[1.0, 1.25])
        axes = [fig.add_subplot(grid[0, 0])]
        axes += [fig.add_subplot(grid[r, 0], sharex=axes[0]) for r in range(1, rows)]
        split = max(rows - 2, 1)
    else:
        axes = list(np.atleast_1d(fig.subplots(rows, 1, sharex=True)))
    colours = _colours(_TIMES_CMAP, len(times))
    for d, ax in enumerate(axes[: len(names)]):
        _draw_predictions(ax, realised[:, d], forecast[..., d], times, colours, held=False)
        ax.set_ylabel(names[d], fontsize=8)
    for a, ax in enumerate(axes[len(names) :]):
        _draw_predictions(ax, actions[:, a], plans[..., a], times, colours, held=True)
        ax.set_ylabel(action_labels[a], fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
        if not alive.all():
            ax.axvspan(int(np.argmin(alive)), num_steps, color="0.85", zorder=0, lw=0)
        ax.tick_params(labelbottom=ax is axes[-1])
    axes[-1].set_xlabel("environment step t")
    axes[-1].set_xlim(0, num_steps)
    _times_legend(axes[0], times, colours, bool(alive.all()))
    if track:
        _predicted_on_track(fig.add_subplot(grid[:split, 1]), env, traj, predicted, times, colours)
        if split < rows:
            _position_error(fig.add_subplot(grid[split:, 1]), traj, predicted, times, colours)
    if title is None:
        title = (
            f"{env.spec.env_id}: the realised episode ({num_steps} steps, MPC replanning every "
            f"step)\nvs the plan chosen at step t rolled out {horizon} steps through the model"
        )
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def _draw_predictions(
    ax: Axes,
    realised: np.ndarray,
    predicted: np.ndarray,
    times: Sequence[int],
    colours: np.ndarray,
    held: bool,
) -> None:
    """One component: ``realised [T + 1]`` (states) or ``[T]`` (actions, ``held``: drawn as
    steps) in bold, and ``predicted[t] [H + 1]`` (or ``[H]``) from each ``t`` in ``times``,
    cut where the episode ends."""
    num_steps = realised.shape[0] - (0 if held else 1)
    if held:  # action t is held over [t, t + 1): repeat the last value to close its step
        realised = np.append(realised, realised[-1])
    ax.plot(
        np.arange(num_steps + 1),
        realised,
        color="black",
        lw=1.6 if held else 2.2,
        drawstyle="steps-post" if held else "default",
        zorder=3,
    )
    for t, colour in zip(times, colours, strict=True):
        end = min(predicted.shape[1] - (0 if held else 1), num_steps - t)
        ys = (
            np.append(predicted[t, :end], predicted[t, end - 1])
            if held
            else predicted[t, : end + 1]
        )
        ax.plot(
            t + np.arange(end + 1),
            ys,
            color=colour,
            lw=1.1 if held else 1.3,
            drawstyle="steps-post" if held else "default",
            zorder=4,
        )
        ax.plot(t, predicted[t, 0], "o", color=colour, ms=3.5, zorder=5)


def _colours(name: str, n: int) -> np.ndarray:
    """``[n, 4]`` RGBA colours spread along the colormap ``name`` (its palest end left out)."""
    import matplotlib

    return matplotlib.colormaps[name](np.linspace(0.0, 0.85, n))


def _prediction_times(
    num_steps: int, horizon: int, times: Sequence[int] | None, num_predictions: int
) -> list[int]:
    if times is None:
        if not (isinstance(num_predictions, int) and num_predictions >= 1):
            raise ValueError(f"num_predictions must be an int >= 1, got {num_predictions!r}.")
        last = max(num_steps - horizon, 0) if num_steps > horizon else num_steps - 1
        return sorted({int(round(t)) for t in np.linspace(0, last, num_predictions)})
    times = [int(t) for t in times]
    bad = [t for t in times if not 0 <= t < num_steps]
    if not times or bad:
        raise ValueError(
            f"times must be a non-empty list of replanning steps in [0, {num_steps}), got "
            f"{list(times)}."
        )
    return sorted(set(times))


def _times_legend(ax: Axes, times: Sequence[int], colours: np.ndarray, all_alive: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], color="black", lw=2.2, label="realised")]
    handles += [
        Line2D([], [], color=c, lw=1.3, marker="o", ms=3.5, label=f"predicted at t = {t}")
        for t, c in zip(times, colours, strict=True)
    ]
    if not all_alive:
        handles.append(Patch(color="0.85", label="after termination"))
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02),
        ncol=4,
        fontsize=7,
        frameon=False,
    )


def _predicted_on_track(
    ax: Axes,
    env: Bicycle,
    traj: MPCTrajectory,
    predicted: Any,
    times: Sequence[int],
    colours: np.ndarray,
) -> None:
    """The track with the realised path (bold), each prediction and the car at the end."""
    draw_track(ax, env.track)
    num_steps, horizon = predicted.x.shape[0], predicted.x.shape[1] - 1
    x, y = np.asarray(traj.states.x), np.asarray(traj.states.y)
    ax.plot(x, y, color="black", lw=2.2, zorder=3)
    for t, colour in zip(times, colours, strict=True):
        end = min(horizon, num_steps - t)
        ax.plot(
            predicted.x[t, : end + 1], predicted.y[t, : end + 1], color=colour, lw=1.5, zorder=4
        )
        ax.plot(predicted.x[t, 0], predicted.y[t, 0], "o", color=colour, ms=4, zorder=5)
    final = jax.tree.map(lambda s: s[-1], traj.states)
    draw_car(ax, env, final)
    whole_track(ax, env.track)
    ax.set_title("on the track (car at the episode's end)", fontsize=9)


def _position_error(
    ax: Axes,
    traj: MPCTrajectory,
    predicted: Any,
    times: Sequence[int],
    colours: np.ndarray,
) -> None:
    """Distance between the predicted and the realised position, against the steps ahead."""
    num_steps, horizon = predicted.x.shape[0], predicted.x.shape[1] - 1
    real = np.stack([np.asarray(traj.states.x), np.asarray(traj.states.y)], axis=-1)  # [T+1, 2]
    pred = np.stack([predicted.x, predicted.y], axis=-1)  # [T, H+1, 2]
    ahead = np.arange(horizon + 1)
    index = np.arange(num_steps)[:, None] + ahead  # [T, H+1] the realised step each predicts
    valid = index <= num_steps
    error = np.linalg.norm(pred - real[np.minimum(index, num_steps)], axis=-1)
    error = np.where(valid, error, np.nan)
    counts = valid.sum(0)
    keep = counts > 0
    mean = np.nansum(error, axis=0)[keep] / counts[keep]
    ax.plot(ahead[keep], mean, color="black", lw=2.2, label="mean over all steps t")
    for t, colour in zip(times, colours, strict=True):
        ax.plot(ahead, error[t], color=colour, lw=1.1)
    ax.set_xlim(0, horizon)
    ax.set_xlabel("steps ahead k")
    ax.set_ylabel("position error (m)", fontsize=8)
    ax.set_title("‖predicted − realised‖ of (x, y), k steps after replanning", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
