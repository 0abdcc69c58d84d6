"""Pictures of planners: MPPI's samples are exactly the plan call's, predictions are rollouts of
the chosen plans, the PNGs are real images of the requested size, and bad input is refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import LineCollection

from mbrlax.agents.mpc import MPCTrajectory, mpc_rollout
from mbrlax.analysis.planner_plots import (
    plot_mppi_fan,
    plot_predicted_vs_realised,
    predicted_states,
)
from mbrlax.envs import make_env
from mbrlax.envs.base import EnvError, as_step_fn
from mbrlax.envs.bicycle import Bicycle, BicycleState
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.planners import MPPI, RandomShooting, path_integral_weights
from mbrlax.planners._rollout import sequence_return, sequence_returns, sequence_states
from mbrlax.planners.mppi import mppi_samples

SMALL_MPPI = MPPI(horizon=5, population=16, iterations=3, noise_std=0.8, temperature=0.5)
T = 8  # episode length of the predicted-vs-realised tests
# On the bottom straight, driving along it (built directly: an eager env.reset takes seconds).
BIKE_START = BicycleState(jnp.array(2.0), jnp.array(-3.1), jnp.array(0.05), jnp.array(0.0))


def _leaves_equal(a, b, **tol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)


@pytest.fixture(scope="module")
def pendulum_episode():
    env = Pendulum()
    planner = RandomShooting(horizon=5, population=32).build(*env.spec.action_bounds())
    start = PendulumState(jnp.array(2.5), jnp.array(0.3))
    traj = jax.jit(lambda k: mpc_rollout(env, planner, start, k, T))(jax.random.key(0))
    return env, traj


@pytest.fixture(scope="module")
def bicycle_episode():
    """A synthetic episode (the pictures take any planner's): random plans of 4 steps whose
    first actions are executed; cheaper to compile than a planner on the bicycle."""
    env = Bicycle()
    low, high = env.spec.action_bounds()
    plans = jax.random.uniform(jax.random.key(1), (T, 4, 2), minval=low, maxval=high)
    states = jax.jit(sequence_states, static_argnums=0)(
        as_step_fn(env), BIKE_START, plans[:, 0], jax.random.key(0)
    )
    zeros = jnp.zeros(T)
    return env, MPCTrajectory(states, plans[:, 0], zeros, zeros == 0, plans, zeros)


# One MPPI decision on the pendulum, from a warm start that is not the mid-point.
PENDULUM_STATE = PendulumState(jnp.array(3.0), jnp.array(-0.5))
WARM_MEAN = jnp.linspace(-1.0, 1.5, 5)[:, None]


@pytest.fixture(scope="module")
def pendulum_decision():
    """``(pstate, key, its, rescored weights [I, N], last iteration's futures)``, one compile."""
    env = Pendulum()
    low, high = env.spec.action_bounds()
    step = as_step_fn(env)
    pstate = SMALL_MPPI.build(low, high).init()._replace(mean=WARM_MEAN)
    key = jax.random.key(7)

    @jax.jit
    def decision(pstate, key):
        its = mppi_samples(SMALL_MPPI, low, high, pstate, step, PENDULUM_STATE, key)
        rescored = jax.vmap(
            lambda a, k: path_integral_weights(sequence_returns(step, PENDULUM_STATE, a, k), 0.5)
        )(its.samples, its.eval_key)
        keys = jax.random.split(its.eval_key[-1], SMALL_MPPI.population)
        futures = jax.vmap(lambda a, k: sequence_states(step, PENDULUM_STATE, a, k))(
            its.samples[-1], keys
        )
        return its._replace(eval_key=None), rescored, futures

    its, rescored, futures = jax.tree.map(np.asarray, decision(pstate, key))
    return pstate, key, its, rescored, futures


def test_mppi_samples_are_exactly_those_of_the_plan_call(pendulum_decision):
    pstate, key, its, rescored, _ = pendulum_decision
    env = Pendulum()
    low, high = env.spec.action_bounds()
    planner = SMALL_MPPI.build(low, high)
    plan = jax.jit(planner.plan, static_argnums=1)
    action, next_pstate, info = plan(pstate, as_step_fn(env), PENDULUM_STATE, key)

    assert its.samples.shape == (3, 16, 5, 1) and its.weights.shape == (3, 16)
    np.testing.assert_array_equal(its.mean[0], pstate.mean)
    np.testing.assert_array_equal(its.mean[1:], its.plan[:-1])  # each update starts the next
    np.testing.assert_array_equal(its.plan[-1, 0], action)
    np.testing.assert_array_equal(next_pstate.mean[:-1], its.plan[-1, 1:])  # shifted warm start
    assert float(info["best_return"]) == its.returns.max()
    # The weights are the softmax of the returns of the samples' futures under the recorded
    # keys, and the update is the weighted sum of the perturbations.
    np.testing.assert_allclose(rescored, its.weights, rtol=1e-5, atol=1e-7)
    eps = its.samples - its.mean[:, None]
    update = np.clip(its.mean + np.einsum("in,inha->iha", its.weights, eps), low, high)
    np.testing.assert_allclose(its.plan, update, rtol=1e-5, atol=1e-6)
    assert np.all((its.samples >= low) & (its.samples <= high))
    np.testing.assert_allclose(its.weights.sum(-1), 1.0, rtol=1e-5)


def test_sequence_states_are_the_futures_sequence_return_scores():
    # A stochastic model whose reward is the next state: the return is the sum of the states.
    def step(s, a, key):
        nxt = s + a[0] + jax.random.normal(key)
        return nxt, nxt, jnp.array(False)

    actions = jnp.array([[0.5], [-1.0], [2.0], [0.0]])
    key = jax.random.key(4)
    states = sequence_states(step, jnp.array(1.0), actions, key)
    assert states.shape == (5,) and float(states[0]) == 1.0
    np.testing.assert_allclose(
        float(states[1:].sum()), float(sequence_return(step, jnp.array(1.0), actions, key)), 1e-6
    )


# --------------------------------------------------------------------------- predicted states


def test_predicted_states_are_rollouts_of_the_chosen_plans(pendulum_episode):
    env, traj = pendulum_episode
    predicted = predicted_states(traj, as_step_fn(env), jax.random.key(0))
    assert predicted.theta.shape == (T, 6)
    # Entry [t, 0] is the state at t; with the exact model [t, 1] is what the env did next.
    _leaves_equal(
        jax.tree.map(lambda s: s[:, 0], predicted), jax.tree.map(lambda s: s[:-1], traj.states)
    )
    _leaves_equal(
        jax.tree.map(lambda s: s[:, 1], predicted),
        jax.tree.map(lambda s: s[1:], traj.states),
        rtol=1e-5,
        atol=1e-6,
    )
    for t in (0, 3, T - 1):  # the whole prediction: the plan stepped through the env by hand
        state = jax.tree.map(lambda s, t=t: s[t], traj.states)
        for k in range(5):
            state = env.step(state, traj.plans[t, k]).state
            _leaves_equal(
                jax.tree.map(lambda s, t=t, k=k: s[t, k + 1], predicted), state, rtol=1e-5
            )
    # Through a wrong model the very first predicted step already misses.
    wrong = predicted_states(traj, as_step_fn(Pendulum(g=5.0)), jax.random.key(0))
    assert not np.allclose(wrong.theta_dot[:, 1], traj.states.theta_dot[1:], atol=1e-3)


# --------------------------------------------------------------------------- pictures


def test_mppi_fan_png_has_the_requested_size(tmp_path):
    env, state = Bicycle(), BIKE_START
    path = plot_mppi_fan(
        env, state, SMALL_MPPI, jax.random.key(1), tmp_path / "fan.png", figsize=(6, 3), dpi=50
    )
    assert path == tmp_path / "fan.png"
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (150, 300)
    assert image[..., :3].std() > 0.05  # a picture, not a blank canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fan.png"]  # no temporary left


def test_mppi_fan_on_the_track_draws_every_sample_from_the_car():
    env, state = Bicycle(), BIKE_START
    fig = plot_mppi_fan(env, state, SMALL_MPPI, jax.random.key(1))  # compiled by the test above
    overview, zoom = fig.axes[:2]
    for ax in (overview, zoom):
        assert ax.get_aspect() == 1.0 and ax.get_xlabel() == "x (m)"
        (fan,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        paths = np.array(fan.get_segments())
        assert paths.shape == (16, 6, 2)  # N samples, H + 1 positions, from the car's position
        np.testing.assert_allclose(paths[:, 0], np.broadcast_to([state.x, state.y], (16, 2)))
    # The zoom shows every sample whole.
    (x0, x1), (y0, y1) = zoom.get_xlim(), zoom.get_ylim()
    assert x0 < paths[..., 0].min() and paths[..., 0].max() < x1
    assert y0 < paths[..., 1].min() and paths[..., 1].max() < y1
    assert "weight" in fig.axes[-1].get_ylabel()  # the colour bar


def test_mppi_fan_of_any_env_is_drawn_against_time(pendulum_decision):
    pstate, key, its, _, futures = pendulum_decision
    fig = plot_mppi_fan(Pendulum(), PENDULUM_STATE, SMALL_MPPI, key, pstate=pstate)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_ylabel() for ax in panels] == ["θ from upright (rad)", "θ' (rad/s)", "torque"]
    theta, _, torque = (np.array(ax.collections[0].get_segments()) for ax in panels)
    # The angles drawn are the last iteration's samples rolled out (in order of weight), ...
    assert theta.shape == (16, 6, 2) and np.all(theta[..., 0] == np.arange(6))
    np.testing.assert_allclose(np.sort(theta[..., 1], 0), np.sort(futures.theta, 0), rtol=1e-5)
    # ... the torques their actions, each held for a step.
    np.testing.assert_allclose(
        np.sort(torque[:, ::2, 1], 0), np.sort(its.samples[-1, ..., 0], 0), rtol=1e-6
    )


def test_predicted_vs_realised_png_has_the_requested_size(tmp_path, bicycle_episode):
    env, traj = bicycle_episode
    path = plot_predicted_vs_realised(
        env, traj, tmp_path / "sub" / "pvr.png", figsize=(8, 5), dpi=40
    )
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (200, 320)
    assert image[..., :3].std() > 0.05


def test_predicted_vs_realised_draws_the_episode_and_each_prediction(pendulum_episode):
    env, traj = pendulum_episode
    fig = plot_predicted_vs_realised(env, traj, times=[0, 2, 6])
    theta = fig.axes[0]
    lines = {tuple(line.get_xdata()): line.get_ydata() for line in theta.get_lines()}
    np.testing.assert_allclose(lines[tuple(range(T + 1))], traj.states.theta)  # realised
    predicted = predicted_states(traj, as_step_fn(env), jax.random.key(0))
    for t in (0, 2, 6):  # each prediction, cut where the episode ends
        end = min(5, T - t)
        np.testing.assert_allclose(
            lines[tuple(range(t, t + end + 1))], predicted.theta[t, : end + 1]
        )


def test_predicted_vs_realised_on_the_track_draws_the_xy_path(bicycle_episode):
    env, traj = bicycle_episode
    fig = plot_predicted_vs_realised(env, traj)
    (track,) = [ax for ax in fig.axes if ax.get_xlabel() == "x (m)"]
    assert track.get_aspect() == 1.0
    paths = [np.column_stack([ln.get_xdata(), ln.get_ydata()]) for ln in track.get_lines()]
    realised = np.column_stack([traj.states.x, traj.states.y])
    assert any(p.shape == realised.shape and np.allclose(p, realised) for p in paths)


# --------------------------------------------------------------------------- bad input


def test_a_gymnasium_env_is_refused():
    gym_env = make_env("Pendulum-v1")
    with pytest.raises(EnvError, match="JAX-native"):
        plot_mppi_fan(gym_env, None, SMALL_MPPI, jax.random.key(0))


def test_bad_fan_input_says_what_is_wrong():
    env = Pendulum()
    state = PendulumState(jnp.array(1.0), jnp.array(0.0))
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="MPPI config"):
        plot_mppi_fan(env, state, SMALL_MPPI.build(*env.spec.action_bounds()), key)
    batched = PendulumState(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="leaf shapes"):
        plot_mppi_fan(env, batched, SMALL_MPPI, key)
    with pytest.raises(ValueError, match="PendulumState"):
        plot_mppi_fan(env, BIKE_START, SMALL_MPPI, key)
    short = SMALL_MPPI.build(*env.spec.action_bounds()).init()._replace(mean=jnp.zeros((2, 1)))
    with pytest.raises(ValueError, match="pstate.mean"):
        plot_mppi_fan(env, state, SMALL_MPPI, key, pstate=short)
    with pytest.raises(ValueError, match="iteration"):
        plot_mppi_fan(env, state, SMALL_MPPI, key, iteration=3)
    with pytest.raises(ValueError, match=r"\.png"):
        plot_mppi_fan(env, state, SMALL_MPPI, key, "fan.jpg")


def test_bad_trajectory_input_says_what_is_wrong(pendulum_episode, bicycle_episode):
    env, traj = pendulum_episode
    with pytest.raises(ValueError, match=r"traj.actions must have shape \[T, 2\]"):
        plot_predicted_vs_realised(Bicycle(), traj)
    with pytest.raises(ValueError, match="traj.plans"):
        plot_predicted_vs_realised(env, traj._replace(plans=traj.plans[:-1]))
    with pytest.raises(ValueError, match="traj.states"):
        plot_predicted_vs_realised(
            env, traj._replace(states=jax.tree.map(lambda s: s[:-1], traj.states))
        )
    with pytest.raises(TypeError, match="MPCTrajectory"):
        plot_predicted_vs_realised(env, tuple(traj))
    with pytest.raises(ValueError, match=r"times .* \[0, 8\)"):
        plot_predicted_vs_realised(env, traj, times=[0, T])
    with pytest.raises(ValueError, match="key="):
        plot_predicted_vs_realised(env, traj, model_step=as_step_fn(env))
    with pytest.raises(ValueError, match="state_labels has 1"):
        plot_predicted_vs_realised(env, traj, state_labels=["theta"])
    _, bike_traj = bicycle_episode
    with pytest.raises(ValueError, match="traj.states"):
        # Right action shape, wrong env: the states give it away.
        plot_predicted_vs_realised(Bicycle(), bike_traj._replace(states=traj.states))


def test_draw_command_writes_both_pictures(tmp_path, capsys):
    from mbrlax.cli import main

    out = tmp_path / "pend.png"
    main(
        [
            *("draw", "--env", "mbrlax/Pendulum-v0", "--steps", "30", "--fan-at", "5"),
            *("--out", str(out), "agent.planner:mppi", "--agent.planner.population", "32"),
            *("--agent.planner.horizon", "8"),
        ]
    )
    said = capsys.readouterr().out
    assert "MPPI on mbrlax/Pendulum-v0: return" in said
    for path in (out, tmp_path / "pend-fan.png"):
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
