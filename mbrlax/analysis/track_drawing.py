"""The bicycle car's stadium track and the car itself, drawn on a matplotlib ``Axes``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mbrlax.envs.base import EnvState
from mbrlax.envs.bicycle import Bicycle, StadiumTrack, track_points

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def draw_track(ax: Axes, track: StadiumTrack) -> None:
    """The tarmac (grey) between the two edges, the edges and the dashed centre line."""
    outer = np.asarray(track_points(256, track.half_width, track))
    inner = np.asarray(track_points(256, -track.half_width, track))
    centre = np.asarray(track_points(256, 0.0, track))
    ax.fill(*outer.T, color="0.88", zorder=0, lw=0)
    ax.fill(*inner.T, color="white", zorder=0, lw=0)
    for edge in (outer, inner):
        ax.plot(*np.vstack([edge, edge[:1]]).T, color="0.45", lw=1.2, zorder=1)
    ax.plot(*np.vstack([centre, centre[:1]]).T, color="0.6", lw=0.8, ls=(0, (6, 4)), zorder=1)


def car_outline(env: Bicycle, state: EnvState) -> tuple[np.ndarray, np.ndarray]:
    """``(body corners [4, 2], front axle [2])`` of the car: 0.2 m overhangs, 0.44 m wide."""
    psi = float(state.psi)
    forward = np.array([np.cos(psi), np.sin(psi)])
    side = np.array([-forward[1], forward[0]])
    rear = np.array([float(state.x), float(state.y)]) - env.rear_to_cm * forward
    front = rear + env.wheelbase * forward
    back, nose = rear - 0.2 * forward, front + 0.2 * forward
    return np.array(
        [back - 0.22 * side, nose - 0.22 * side, nose + 0.22 * side, back + 0.22 * side]
    ), front


def draw_car(ax: Axes, env: Bicycle, state: EnvState) -> None:
    """The car, to scale: its body (blue) along the heading, its front wheel (red) steered."""
    from matplotlib.patches import Polygon

    body, front = car_outline(env, state)
    psi, delta = float(state.psi), float(state.delta)
    # Under the futures (they start at its centre of mass) and translucent, so none is hidden.
    ax.add_patch(
        Polygon(body, closed=True, fc="#3c5ac8", ec="#1a2a66", alpha=0.55, lw=0.8, zorder=2)
    )
    wheel = 0.22 * np.array([np.cos(psi + delta), np.sin(psi + delta)])
    ax.plot(*np.array([front - wheel, front + wheel]).T, color="#cc4d4d", lw=3, alpha=0.8, zorder=2)


def whole_track(ax: Axes, track: StadiumTrack) -> None:
    """Limits showing the whole track with a margin, equal aspect, axes labelled in metres."""
    half_height = track.radius + track.half_width + 0.3
    half_width = track.half_straight + half_height
    ax.set_xlim(-half_width, half_width)
    ax.set_ylim(-half_height, half_height)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
