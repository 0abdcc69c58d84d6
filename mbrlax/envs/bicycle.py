"""`Bicycle`: the kinematic bicycle car driving laps of a stadium-shaped track, in JAX.

Car (Rajamani, *Vehicle Dynamics and Control*, sec. 2.2; Kong et al., 2015): position
``(x, y)`` of the centre of mass, heading ``psi``, front steering angle ``delta``; wheelbase
``L`` with the centre of mass ``l_r`` ahead of the rear axle. Controls: speed ``v`` and
steering rate ``r``. With the slip angle ``beta = atan(l_r / L tan(delta))``

    x' = v cos(psi + beta),  y' = v sin(psi + beta),  psi' = v / L cos(beta) tan(delta),
    delta' = r,  delta clipped to [-max_steer, max_steer],

so at a constant ``delta`` the centre of mass drives a circle of radius
``L / (tan(delta) cos(beta)) = sqrt((L / tan(delta))^2 + l_r^2)`` (the rear axle's is
``L / tan(delta)``).

Track: a stadium, i.e. every point at distance ``radius`` from the segment
``[-half_straight, half_straight] x {0}`` (two straights joined by two half circles), of
half-width ``half_width``. That makes the projection onto the centre line closed-form and
differentiable: the lateral offset is ``dist(p, segment) - radius`` and the arc length ``s``
follows from the angle about the nearest point of the segment. The track runs
counter-clockwise; ``s = 0`` is the rightmost point.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.canvas import Canvas
from mbrlax.envs.spec import EnvSpec


@dataclasses.dataclass(frozen=True)
class StadiumTrack:
    """A closed stadium track (hashable, so a static field). Lengths in metres.

    Attributes:
        radius: radius of the two half circles of the centre line (and half the distance
            between the straights).
        half_straight: half the length of each straight.
        half_width: the track extends this far either side of the centre line.
    """

    radius: float = 3.0
    half_straight: float = 3.0
    half_width: float = 0.6

    @property
    def length(self) -> float:
        """Length of the centre line, ``2 pi radius + 4 half_straight``."""
        return 2 * np.pi * self.radius + 4 * self.half_straight

    def coordinates(
        self, xy: Float[Array, " 2"]
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """``(s, offset, tangent angle)`` of the point ``xy [2]`` (Frenet coordinates).

        ``s in [0, length)`` is the arc length of the nearest centre-line point, ``offset``
        the signed distance from the centre line (positive outward), and the tangent angle
        the direction of travel there. Exact away from the infield's middle segment.
        """
        a, big_r = self.half_straight, self.radius
        x, y = xy[0], xy[1]
        px = jnp.clip(x, -a, a)  # nearest point of the spine segment
        dx = x - px
        dist = jnp.sqrt(jnp.maximum(dx**2 + y**2, 1e-12))
        theta = jnp.mod(jnp.arctan2(y, dx), 2 * jnp.pi)  # 0 at the rightmost point
        # Straight length already travelled: the top straight runs -x, the bottom one +x.
        straight = jnp.where(y >= 0, a - px, 3 * a + px)
        s = jnp.mod(big_r * theta + straight, self.length)
        return s, dist - big_r, theta + jnp.pi / 2

    def centre(self, s: Float[Array, ""]) -> tuple[Float[Array, " 2"], Float[Array, ""]]:
        """Centre-line point ``[2]`` and tangent angle ``[]`` at arc length ``s``."""
        a, big_r = self.half_straight, self.radius
        quarter = np.pi * big_r / 2
        s = jnp.mod(s, self.length)
        # Angle about the spine (constant on the straights) and the nearest spine point.
        theta = jnp.select(
            [s < quarter, s < quarter + 2 * a, s < 3 * quarter + 2 * a, s < 3 * quarter + 4 * a],
            [s / big_r, jnp.pi / 2, (s - 2 * a) / big_r, 3 * jnp.pi / 2],
            (s - 4 * a) / big_r,
        )
        px = jnp.select(
            [s < quarter, s < quarter + 2 * a, s < 3 * quarter + 2 * a, s < 3 * quarter + 4 * a],
            [a, a - (s - quarter), -a, -a + (s - 3 * quarter - 2 * a)],
            a,
        )
        xy = jnp.stack([px + big_r * jnp.cos(theta), big_r * jnp.sin(theta)])
        return xy, theta + jnp.pi / 2

    def progress(self, s: Float[Array, ""], next_s: Float[Array, ""]) -> Float[Array, ""]:
        """Arc length gained going from ``s`` to ``next_s`` (negative when going backwards),
        wrapped across the start line; exact for moves shorter than half a lap."""
        half = self.length / 2
        return jnp.mod(next_s - s + half, self.length) - half


TRACK = StadiumTrack()
"""The default track of ``mbrlax/BicycleTrack-v0``."""


@functools.partial(jax.jit, static_argnames=("n", "track"))
def track_points(n: int, offset: float = 0.0, track: StadiumTrack = TRACK) -> Float[Array, "n 2"]:
    """``n`` points evenly spaced in arc length along the centre line shifted ``offset``
    outward (``+-track.half_width`` gives the boundaries), for plotting; ``[n, 2]``."""

    def point(s: Float[Array, ""]) -> Float[Array, " 2"]:
        xy, heading = track.centre(s)
        return xy + offset * jnp.stack([jnp.sin(heading), -jnp.cos(heading)])

    return jax.vmap(point)(jnp.arange(n, dtype=jnp.float32) * (track.length / n))


class BicycleState(NamedTuple):
    """Centre-of-mass position, heading (unwrapped) and front steering angle; all ``[]``."""

    x: Float[Array, ""]
    y: Float[Array, ""]
    psi: Float[Array, ""]
    delta: Float[Array, ""]


Scalar = Float[Array, ""] | float
"""A physical constant: a Python float (the env's static fields) or a traced array (fitting)."""


def bicycle_derivative(
    psi: Float[Array, ""],
    delta: Float[Array, ""],
    v: Float[Array, ""],
    *,
    wheelbase: Scalar,
    rear_to_cm: Scalar,
) -> Float[Array, " 3"]:
    """``(x', y', psi')`` of the kinematic bicycle (module docstring); ``[3]``."""
    beta = jnp.arctan(rear_to_cm / wheelbase * jnp.tan(delta))
    return jnp.stack(
        [
            v * jnp.cos(psi + beta),
            v * jnp.sin(psi + beta),
            v / wheelbase * jnp.cos(beta) * jnp.tan(delta),
        ]
    )


def bicycle_dynamics(
    state: BicycleState,
    v: Float[Array, ""],
    rate: Float[Array, ""],
    *,
    wheelbase: Scalar,
    rear_to_cm: Scalar,
    max_steer: Scalar,
    dt: Scalar,
) -> BicycleState:
    """Hold speed ``v []`` and steering rate ``rate []`` (both already clipped) for ``dt``.

    The steering angle follows its exact path ``clip(delta + rate t, +-max_steer)``, and the
    pose ``(x, y, psi)`` one RK4 step of ``dt`` along it. The constants may be traced arrays,
    so that physical parameters can be fitted through it
    (:class:`mbrlax.models.physics.BicyclePhysics`).
    """
    h = dt

    def steer(t: Scalar) -> Float[Array, ""]:
        return jnp.clip(state.delta + rate * t, -max_steer, max_steer)

    def derivative(psi: Float[Array, ""], delta: Float[Array, ""]) -> Float[Array, " 3"]:
        return bicycle_derivative(psi, delta, v, wheelbase=wheelbase, rear_to_cm=rear_to_cm)

    pose = jnp.stack([state.x, state.y, state.psi])
    k1 = derivative(pose[2], steer(0.0))
    k2 = derivative(pose[2] + h / 2 * k1[2], steer(h / 2))
    k3 = derivative(pose[2] + h / 2 * k2[2], steer(h / 2))
    k4 = derivative(pose[2] + h * k3[2], steer(h))
    pose = pose + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return BicycleState(pose[0], pose[1], pose[2], steer(h))


def bicycle_observe(state: BicycleState, track: StadiumTrack = TRACK) -> Float[Array, " 6"]:
    """``[x, y, cos psi, sin psi, delta, offset]``, ``offset`` from ``track``'s centre line."""
    _, offset, _ = track.coordinates(jnp.stack([state.x, state.y]))
    return jnp.stack(
        [state.x, state.y, jnp.cos(state.psi), jnp.sin(state.psi), state.delta, offset]
    )


@final
class Bicycle(JaxEnv):
    """Drive the kinematic bicycle car as far as possible counter-clockwise round the track.

    Observation ``[x, y, cos psi, sin psi, delta, offset]`` (6), ``offset`` being the signed
    distance from the centre line (positive outward). Action ``[v, r]``: speed in
    ``[0, max_speed]`` m/s and steering rate in ``[-max_steer_rate, max_steer_rate]`` rad/s
    (clipped). Reward :meth:`reward`: centre-line progress (m) minus
    ``off_track_cost * max(|offset'| - half_width, 0)^2`` after the step minus
    ``control_cost * (r / max_steer_rate)^2``; a function of ``(obs, action, next_obs)``, so
    :func:`reward_fn` is exact. 300 steps of ``dt``; never terminates (the quadratic
    penalty, not an episode end, keeps the car on the track, so leaving it is never a way to
    stop paying it). Integration: the steering angle follows its exact path
    ``clip(delta + r t)``, and ``(x, y, psi)`` one RK4 step of ``dt`` along it.
    Reset: on the centre line at a uniform arc length, heading along it, with lateral offset
    and heading error ``~ U(-0.1, 0.1)`` and ``delta = 0``.
    """

    wheelbase: float = eqx.field(static=True, default=1.0)
    rear_to_cm: float = eqx.field(static=True, default=0.5)
    max_speed: float = eqx.field(static=True, default=3.0)
    max_steer: float = eqx.field(static=True, default=0.6)
    max_steer_rate: float = eqx.field(static=True, default=1.5)
    dt: float = eqx.field(static=True, default=0.05)
    track: StadiumTrack = eqx.field(static=True, default=TRACK)
    off_track_cost: float = eqx.field(static=True, default=10.0)
    control_cost: float = eqx.field(static=True, default=0.01)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/BicycleTrack-v0",
            obs_shape=(6,),
            action_kind="continuous",
            action_shape=(2,),
            action_low=(0.0, -self.max_steer_rate),
            action_high=(self.max_speed, self.max_steer_rate),
            max_episode_steps=300,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[BicycleState, Float[Array, " 6"]]:
        """On the centre line, heading along it, slightly perturbed; ``(state, obs [6])``."""
        key_s, key_noise = jax.random.split(key)
        s = jax.random.uniform(key_s, (), maxval=self.track.length)
        lateral, heading_error = jax.random.uniform(key_noise, (2,), minval=-0.1, maxval=0.1)
        xy, heading = self.track.centre(s)
        xy = xy + lateral * jnp.stack([jnp.sin(heading), -jnp.cos(heading)])
        state = BicycleState(xy[0], xy[1], heading + heading_error, jnp.zeros(()))
        return state, self.observe(state)

    def derivative(
        self, psi: Float[Array, ""], delta: Float[Array, ""], v: Float[Array, ""]
    ) -> Float[Array, " 3"]:
        """``(x', y', psi')`` of the kinematic bicycle (module docstring); ``[3]``."""
        return bicycle_derivative(
            psi, delta, v, wheelbase=self.wheelbase, rear_to_cm=self.rear_to_cm
        )

    def step(self, state: BicycleState, action: Float[Array, " 2"]) -> EnvStep:
        """Hold ``(v, r)`` for ``dt``; RK4 for the pose along the exact steering path
        (:func:`bicycle_dynamics`)."""
        low, high = self.spec.action_bounds()
        a = jnp.clip(action, low, high)
        new_state = bicycle_dynamics(
            state,
            a[0],
            a[1],
            wheelbase=self.wheelbase,
            rear_to_cm=self.rear_to_cm,
            max_steer=self.max_steer,
            dt=self.dt,
        )
        # One projection per state: the reward reuses the offset that the observation holds.
        s, _, _ = self.track.coordinates(jnp.stack([state.x, state.y]))
        next_obs = self.observe(new_state)
        next_s, _, _ = self.track.coordinates(next_obs[:2])
        reward = self._reward(s, next_s, next_obs[5], a[1])
        return EnvStep(new_state, next_obs, reward, jnp.array(False))

    def reward(
        self, obs: Float[Array, " 6"], action: Float[Array, " 2"], next_obs: Float[Array, " 6"]
    ) -> Float[Array, ""]:
        """The env's reward from observations (class docstring); ``[]``. Same as ``step``'s."""
        s, _, _ = self.track.coordinates(obs[:2])
        next_s, _, _ = self.track.coordinates(next_obs[:2])
        return self._reward(s, next_s, next_obs[5], action[1])

    def _reward(
        self,
        s: Float[Array, ""],
        next_s: Float[Array, ""],
        next_offset: Float[Array, ""],
        rate: Float[Array, ""],
    ) -> Float[Array, ""]:
        excess = jnp.maximum(jnp.abs(next_offset) - self.track.half_width, 0.0)
        rate = jnp.clip(rate, -self.max_steer_rate, self.max_steer_rate)
        steering = (rate / self.max_steer_rate) ** 2
        progress = self.track.progress(s, next_s)
        return progress - self.off_track_cost * excess**2 - self.control_cost * steering

    def observe(self, state: BicycleState) -> Float[Array, " 6"]:
        """``[x, y, cos psi, sin psi, delta, offset]``."""
        return bicycle_observe(state, self.track)

    def state_from_obs(self, obs: Float[Array, " 6"]) -> BicycleState:
        """The state of ``[x, y, cos psi, sin psi, delta, offset]``, ``psi`` in ``(-pi, pi]``
        (the dynamics and the reward see only its cosine and sine)."""
        return BicycleState(obs[0], obs[1], jnp.arctan2(obs[3], obs[2]), obs[4])

    def render_rgb(self, state: BicycleState) -> UInt8[np.ndarray, "200 200 3"]:
        """Track boundaries (grey), car body (blue) with its front wheel (red); host side,
        ``uint8 [200, 200, 3]``."""
        track = self.track
        canvas = Canvas(extent=track.half_straight + track.radius + track.half_width + 0.5)
        for offset in (-track.half_width, track.half_width):
            pts = np.asarray(track_points(96, offset, track))
            for p0, p1 in zip(pts, np.roll(pts, -1, axis=0), strict=True):
                canvas.segment(tuple(p0), tuple(p1), 0.08, (120, 120, 120))
        x, y, psi, delta = (float(v) for v in state)
        forward = np.array([np.cos(psi), np.sin(psi)])
        rear = np.array([x, y]) - self.rear_to_cm * forward
        front = rear + self.wheelbase * forward
        canvas.segment(tuple(rear), tuple(front), 0.5, (60, 90, 200))
        wheel = 0.25 * np.array([np.cos(psi + delta), np.sin(psi + delta)])
        canvas.segment(tuple(front - wheel), tuple(front + wheel), 0.15, (204, 77, 77))
        return np.asarray(canvas.image)


_DEFAULT = Bicycle()


def reward_fn(
    obs: Float[Array, " 6"], action: Float[Array, " 2"], next_obs: Float[Array, " 6"]
) -> Float[Array, ""]:
    """mbrlax/BicycleTrack-v0's exact reward (default parameters) from ``(obs, action,
    next_obs)``; ``[]``. The action is clipped as the env clips it."""
    return _DEFAULT.reward(obs, action, next_obs)
