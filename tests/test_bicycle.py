"""Kinematic bicycle on a stadium track: dynamics against numpy oracles, the circle radius,
the track reward, transformations, reset, render, and a pure-pursuit lap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs.bicycle import TRACK, Bicycle, BicycleState, reward_fn, track_points

ENV = Bicycle()
# Jitted once here: eager op-by-op dispatch would compile every primitive separately.
_STEP = jax.jit(ENV.step)
_RESETS = jax.jit(jax.vmap(ENV.reset))
_OBSERVE = jax.jit(jax.vmap(ENV.observe))


def _state(x: float, y: float, psi: float, delta: float = 0.0) -> BicycleState:
    return BicycleState(*map(jnp.float32, (x, y, psi, delta)))


def _derivative_np(pose: np.ndarray, delta: float, v: float, env: Bicycle) -> np.ndarray:
    beta = np.arctan(env.rear_to_cm / env.wheelbase * np.tan(delta))
    return np.array(
        [
            v * np.cos(pose[2] + beta),
            v * np.sin(pose[2] + beta),
            v / env.wheelbase * np.cos(beta) * np.tan(delta),
        ]
    )


def _rk4_np(state: np.ndarray, action: np.ndarray, env: Bicycle) -> np.ndarray:
    """float64 reference: steering on its exact clipped path, one RK4 step for the pose."""
    v = np.clip(action[0], 0.0, env.max_speed)
    rate = np.clip(action[1], -env.max_steer_rate, env.max_steer_rate)
    h = env.dt

    def steer(t: float) -> float:
        return float(np.clip(state[3] + rate * t, -env.max_steer, env.max_steer))

    pose = state[:3]
    k1 = _derivative_np(pose, steer(0.0), v, env)
    k2 = _derivative_np(pose + h / 2 * k1, steer(h / 2), v, env)
    k3 = _derivative_np(pose + h / 2 * k2, steer(h / 2), v, env)
    k4 = _derivative_np(pose + h * k3, steer(h), v, env)
    return np.append(pose + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), steer(h))


def _euler_fine_np(state: np.ndarray, action: np.ndarray, env: Bicycle, n: int) -> np.ndarray:
    """The ODE itself, by ``n`` explicit Euler substeps with delta clipped after each."""
    v = np.clip(action[0], 0.0, env.max_speed)
    rate = np.clip(action[1], -env.max_steer_rate, env.max_steer_rate)
    s = state.astype(np.float64).copy()
    h = env.dt / n
    for _ in range(n):
        s[:3] = s[:3] + h * _derivative_np(s[:3], s[3], v, env)
        s[3] = np.clip(s[3] + h * rate, -env.max_steer, env.max_steer)
    return s


def _random_states_actions(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    states = np.column_stack(
        [
            rng.uniform(-7, 7, n),
            rng.uniform(-4, 4, n),
            rng.uniform(-7, 7, n),
            rng.uniform(-ENV.max_steer, ENV.max_steer, n),
        ]
    ).astype(np.float32)
    # Actions beyond the bounds exercise the clipping; large rates hit the steering limit.
    actions = np.column_stack([rng.uniform(-1, 4, n), rng.uniform(-3, 3, n)]).astype(np.float32)
    return states, actions


@jax.jit
def _batch_step(states: jax.Array, actions: jax.Array):
    return jax.vmap(lambda s, a: ENV.step(BicycleState(*s), a))(states, actions)


# ---------------------------------------------------------------------------- dynamics


def test_step_matches_numpy_rk4_and_the_ode():
    states, actions = _random_states_actions(200)
    out = _batch_step(jnp.asarray(states), jnp.asarray(actions))
    got = np.stack([np.asarray(v) for v in out.state], axis=1)
    ref = np.stack(
        [_rk4_np(s.astype(np.float64), a, ENV) for s, a in zip(states, actions, strict=True)]
    )
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    # The integrator solves the stated ODE: a fine Euler solution agrees to its own O(h) error.
    fine = np.stack(
        [_euler_fine_np(s, a, ENV, 2000) for s, a in zip(states[:20], actions[:20], strict=True)]
    )
    np.testing.assert_allclose(got[:20], fine, atol=2e-4, rtol=0)


def _drive(env: Bicycle, state: BicycleState, action, steps: int) -> BicycleState:
    """All states of ``steps`` steps under a constant action, stacked: ``[steps]`` each."""

    def body(s, _):
        nxt = env.step(s, jnp.asarray(action, jnp.float32)).state
        return nxt, nxt

    return jax.lax.scan(body, state, None, length=steps)[1]


def test_straight_driving_moves_along_heading_at_speed():
    psi, v, steps = 0.7, 2.0, 40
    traj = _drive(ENV, _state(1.0, -2.0, psi), [v, 0.0], steps)
    dist = v * ENV.dt * steps
    np.testing.assert_allclose(
        [traj.x[-1], traj.y[-1]],
        [1.0 + dist * np.cos(psi), -2.0 + dist * np.sin(psi)],
        atol=1e-4,
    )
    np.testing.assert_allclose(traj.psi, psi, atol=1e-6)
    np.testing.assert_allclose(traj.delta, 0.0, atol=0)


@pytest.mark.parametrize("delta", [0.15, 0.4, -0.3])
def test_constant_steering_drives_the_kinematic_circle(delta):
    """The centre of mass circles at ``L / (tan d cos b) = sqrt((L / tan d)^2 + l_r^2)``,
    larger than the rear axle's ``L / tan d``; a fitted circle must match it."""
    v = 2.0
    traj = _drive(ENV, _state(0.0, 0.0, 0.3, delta), [v, 0.0], 300)
    pts = np.column_stack([traj.x, traj.y]).astype(np.float64)
    # Algebraic (Kasa) circle fit: x^2 + y^2 = 2 cx x + 2 cy y + c.
    design = np.column_stack([2 * pts, np.ones(len(pts))])
    (cx, cy, c), *_ = np.linalg.lstsq(design, (pts**2).sum(1), rcond=None)
    radius = np.sqrt(c + cx**2 + cy**2)
    spread = np.linalg.norm(pts - [cx, cy], axis=1)
    beta = np.arctan(ENV.rear_to_cm / ENV.wheelbase * np.tan(abs(delta)))
    expected = ENV.wheelbase / (np.tan(abs(delta)) * np.cos(beta))
    np.testing.assert_allclose(expected, np.hypot(ENV.wheelbase / np.tan(delta), 0.5))
    np.testing.assert_allclose(radius, expected, rtol=1e-4)
    assert np.ptp(spread) < 1e-3 * expected
    assert abs(radius - ENV.wheelbase / np.tan(abs(delta))) > 1e-3 * expected  # not the rear axle
    # Positive steering turns left (counter-clockwise): the heading grows.
    assert np.sign(traj.psi[-1] - 0.3) == np.sign(delta)


def test_steering_angle_saturates_at_max_steer():
    traj = _drive(ENV, _state(0.0, 0.0, 0.0, 0.0), [1.0, 10.0], 20)  # rate clipped to 1.5
    np.testing.assert_allclose(traj.delta[:7], ENV.max_steer_rate * ENV.dt * np.arange(1, 8))
    np.testing.assert_allclose(traj.delta[-1], ENV.max_steer)


# ---------------------------------------------------------------------------- track, reward


def test_track_coordinates_invert_the_centre_line():
    s = jnp.linspace(0.0, TRACK.length, 97, endpoint=False)
    xy, heading = jax.jit(jax.vmap(TRACK.centre))(s)
    s_back, offset, heading_back = jax.jit(jax.vmap(TRACK.coordinates))(xy)
    np.testing.assert_allclose(s_back, s, atol=1e-5)
    np.testing.assert_allclose(offset, 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cos(heading_back - heading), 1.0, atol=1e-6)
    # Consecutive points are ~ length / 97 apart: s is arc length, not a mere parameter.
    gaps = np.linalg.norm(np.diff(np.asarray(track_points(400)), axis=0), axis=1)
    np.testing.assert_allclose(gaps, TRACK.length / 400, rtol=1e-3)
    outer = np.asarray(track_points(50, TRACK.half_width))
    np.testing.assert_allclose(
        jax.jit(jax.vmap(TRACK.coordinates))(jnp.asarray(outer))[1], TRACK.half_width, atol=1e-5
    )


def _reward(state: BicycleState, action) -> float:
    return float(_STEP(state, jnp.asarray(action, jnp.float32)).reward)


def test_reward_is_progress_forward_and_negative_backward():
    v = 2.0
    top = TRACK.radius  # the top straight runs in -x
    forward = _reward(_state(0.0, top, np.pi), [v, 0.0])
    backward = _reward(_state(0.0, top, 0.0), [v, 0.0])
    np.testing.assert_allclose(forward, v * ENV.dt, rtol=1e-5)
    np.testing.assert_allclose(backward, -v * ENV.dt, rtol=1e-5)
    # Across the start line (rightmost point, heading up): wrapped, still positive progress.
    right = TRACK.half_straight + TRACK.radius
    np.testing.assert_allclose(
        _reward(_state(right, -0.02, np.pi / 2), [v, 0.0]), v * ENV.dt, rtol=1e-2
    )
    assert forward > 0 > backward


def test_off_track_penalty_beyond_half_width_only():
    y_in = TRACK.radius + TRACK.half_width - 0.01
    assert _reward(_state(0.0, y_in, np.pi), [0.0, 0.0]) == 0.0
    for excess in (0.1, 0.5):
        y_out = TRACK.radius + TRACK.half_width + excess
        np.testing.assert_allclose(
            _reward(_state(0.0, y_out, np.pi), [0.0, 0.0]), -ENV.off_track_cost * excess**2, 1e-4
        )
        y_inner = TRACK.radius - TRACK.half_width - excess  # inside the infield
        np.testing.assert_allclose(
            _reward(_state(0.0, y_inner, np.pi), [0.0, 0.0]), -ENV.off_track_cost * excess**2, 1e-4
        )
    # The control cost is on the (clipped) steering rate.
    np.testing.assert_allclose(
        _reward(_state(0.0, TRACK.radius, np.pi, -0.5), [0.0, 5.0]), -ENV.control_cost, 1e-6
    )


def test_task_reward_from_observations_is_exact():
    states, actions = _random_states_actions(200, seed=1)  # same shapes: no recompilation
    out = _batch_step(jnp.asarray(states), jnp.asarray(actions))
    obs = _OBSERVE(BicycleState(*jnp.asarray(states).T))
    task = jax.jit(jax.vmap(reward_fn))(obs, jnp.asarray(actions), out.obs)
    np.testing.assert_array_equal(task, out.reward)
    assert not np.any(out.terminated)


# ---------------------------------------------------------------------------- transformations


def test_jit_vmap_and_grad_of_a_rollout_return():
    horizon = 20

    def ret(actions: jax.Array, state: BicycleState) -> jax.Array:
        def body(s, a):
            out = ENV.step(s, a)
            return out.state, out.reward

        return jnp.sum(jax.lax.scan(body, state, actions)[1])

    # Eight reset states, the first replaced by one on the top straight heading along it.
    states, _ = _RESETS(jax.random.split(jax.random.key(1), 8))
    straight = (2.0, TRACK.radius, np.pi, 0.0)
    states = BicycleState(*(np.asarray(b).copy() for b in states))
    for field, value in zip(states, straight, strict=True):
        field[0] = value
    actions = jnp.tile(jnp.array([2.0, 0.1]), (horizon, 1))
    value_and_grad = jax.jit(jax.vmap(jax.value_and_grad(ret), in_axes=(None, 0)))
    returns, grads = value_and_grad(actions, states)
    assert returns.shape == (8,) and grads.shape == (8, horizon, 2)
    assert np.all(np.isfinite(returns)) and np.all(np.isfinite(grads))
    # On the straight, d return / d speed of the last step = progress per unit speed ~ dt.
    np.testing.assert_allclose(grads[0, -1, 0], ENV.dt, rtol=0.02)
    np.testing.assert_allclose(returns[0], horizon * 2.0 * ENV.dt, rtol=0.02)
    assert np.abs(grads[:, :, 1]).max() > 0


# ---------------------------------------------------------------------------- spec, reset, render


def test_spec():
    spec = ENV.spec
    assert spec.env_id == "mbrlax/BicycleTrack-v0"
    assert spec.obs_shape == (6,) and spec.action_shape == (2,) and spec.is_continuous
    assert spec.action_low == (0.0, -ENV.max_steer_rate)
    assert spec.action_high == (ENV.max_speed, ENV.max_steer_rate)
    assert spec.max_episode_steps == 300


def test_reset_is_on_track_heading_along_it_and_deterministic():
    keys = jax.random.split(jax.random.key(3), 2000)
    states, obs = _RESETS(keys)
    s, offset, tangent = jax.jit(jax.vmap(TRACK.coordinates))(jnp.stack([states.x, states.y], 1))
    assert np.abs(offset).max() <= 0.1 + 1e-5
    np.testing.assert_allclose(obs[:, 5], offset)
    heading_error = np.angle(np.exp(1j * (np.asarray(states.psi) - np.asarray(tangent))))
    assert np.abs(heading_error).max() <= 0.1 + 1e-5
    assert np.all(states.delta == 0)
    # Start points cover the lap uniformly.
    hist, _ = np.histogram(np.asarray(s) / TRACK.length, bins=4, range=(0, 1))
    assert hist.min() > 400
    reset = jax.jit(ENV.reset)
    same, again = reset(jax.random.key(7)), reset(jax.random.key(7))
    jax.tree.map(np.testing.assert_array_equal, same, again)
    assert not np.array_equal(same[1], reset(jax.random.key(8))[1])


def test_render_rgb(tmp_path):
    state, _ = ENV.reset(jax.random.key(0))
    frame = ENV.render_rgb(state)
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    assert np.any(np.all(frame == (120, 120, 120), axis=-1))  # track boundaries
    assert np.any(np.all(frame == (60, 90, 200), axis=-1))  # the car


# ---------------------------------------------------------------------------- oracle: a lap


def _pure_pursuit(env: Bicycle, state: BicycleState, speed: float, lookahead: float) -> jax.Array:
    """Steer the rear axle towards the centre-line point ``lookahead`` ahead (pure pursuit),
    reaching the wanted steering angle as fast as the rate limit allows."""
    forward = jnp.stack([jnp.cos(state.psi), jnp.sin(state.psi)])
    rear = jnp.stack([state.x, state.y]) - env.rear_to_cm * forward
    s, _, _ = env.track.coordinates(rear)
    target, _ = env.track.centre(s + lookahead)
    to_target = target - rear
    alpha = jnp.arctan2(to_target[1], to_target[0]) - state.psi
    wanted = jnp.arctan(2 * env.wheelbase * jnp.sin(alpha) / jnp.linalg.norm(to_target))
    rate = (wanted - state.delta) / env.dt
    return jnp.stack([jnp.float32(speed), rate])


def test_pure_pursuit_completes_a_lap_on_track_at_full_speed():
    env = ENV
    start, _ = env.reset(jax.random.key(0))
    steps = 260  # 260 * 0.05 s * 3 m/s = 39 m > one lap (30.85 m)

    def body(state, _):
        action = _pure_pursuit(env, state, env.max_speed, lookahead=2.0)
        out = env.step(state, action)
        return out.state, (out.reward, out.obs[5])

    _, (rewards, offsets) = jax.jit(lambda s: jax.lax.scan(body, s, None, length=steps))(start)
    assert np.abs(offsets).max() < TRACK.half_width
    # No off-track penalty was paid, and the progress (minus a small steering cost) exceeds a lap.
    assert float(jnp.sum(rewards)) > TRACK.length
