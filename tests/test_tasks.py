"""Task functions reproduce the real envs' rewards and terminations on real transitions."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import GymEnv, TaskFunctions, get_task, list_tasks, make_env, register_task
from mbrlax.envs import tasks as tasks_module


def _collect(
    env: GymEnv, steps: int, seed: int, action_scale: float = 1.0, state_fn=None
) -> dict[str, np.ndarray]:
    """Roll random actions through ``env`` (resetting at episode ends); arrays ``[steps, ...]``.

    ``action_scale > 1`` samples beyond the bounds to test clipping; ``state_fn(env, rng)``, if
    given, overwrites the simulator state before each step to reach rare states.
    """
    rng = np.random.default_rng(seed)
    low, high = env.spec.action_bounds()
    mid, half = (high + low) / 2, (high - low) / 2 * action_scale
    obs, _ = env.reset(seed=seed)
    rows = {k: [] for k in ("obs", "action", "next_obs", "reward", "terminated")}
    for _ in range(steps):
        if state_fn is not None:
            obs = state_fn(env, rng)
        action = rng.uniform(mid - half, mid + half).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for k, v in zip(rows, (obs, action, next_obs, reward, terminated), strict=True):
            rows[k].append(v)
        obs = env.reset()[0] if terminated or truncated else next_obs
    return {k: np.asarray(v) for k, v in rows.items()}


def _assert_task_matches(task: TaskFunctions, data: dict[str, np.ndarray]) -> None:
    args = (data["obs"], data["action"], data["next_obs"])
    done = jax.vmap(task.termination)(*args)
    assert done.shape == data["terminated"].shape and done.dtype == jnp.bool_
    np.testing.assert_array_equal(done, data["terminated"])
    if task.reward is not None:
        reward = jax.vmap(task.reward)(*args)
        np.testing.assert_allclose(reward, data["reward"], rtol=1e-5, atol=1e-5)


def _mountain_car_near_goal(env: GymEnv, rng: np.random.Generator) -> np.ndarray:
    # Random actions almost never reach the goal: start next to it, on both sides of it.
    state = np.array([rng.uniform(0.3, 0.6), rng.uniform(-0.07, 0.07)], dtype=np.float32)
    env.env.unwrapped.state = state
    return state


def _near_healthy_bounds(z: tuple[float, float] | None, angle: tuple[float, float]):
    """A ``state_fn`` putting a MuJoCo body's height ``qpos[1]`` (if ``z``) and angle
    (``qpos[2]``, or the hinge ``qpos[1]`` without ``z``) uniformly around the healthy bounds,
    so that every bound of the termination is crossed in both directions."""

    def state_fn(env: GymEnv, rng: np.random.Generator) -> np.ndarray:
        sim = env.env.unwrapped
        qpos = sim.init_qpos + rng.uniform(-0.05, 0.05, sim.model.nq)
        qvel = sim.init_qvel + rng.uniform(-0.5, 0.5, sim.model.nv)
        if z is not None:
            qpos[1], qpos[2] = rng.uniform(*z), rng.uniform(*angle)
        else:
            qpos[1] = rng.uniform(*angle)
        sim.set_state(qpos, qvel)
        return sim._get_obs().astype(np.float32)

    return state_fn


CASES = [
    # env id, steps, action scale (>1: beyond the bounds), state_fn
    ("Pendulum-v1", 300, 1.5, None),
    ("mbrlax/Pendulum-v0", 200, 1.5, None),
    ("mbrlax/CartpoleSwingup-v0", 200, 1.5, None),
    ("mbrlax/PointMass-v0", 100, 1.5, None),
    ("mbrlax/AcrobotSwingup-v0", 200, 1.5, None),
    ("mbrlax/BicycleTrack-v0", 300, 1.5, None),
    ("MountainCarContinuous-v0", 200, 1.0, None),
    ("MountainCarContinuous-v0", 200, 1.5, _mountain_car_near_goal),
    ("InvertedPendulum-v5", 300, 1.0, None),
    ("HalfCheetah-v5", 100, 1.0, None),
    ("Hopper-v5", 300, 1.0, None),
    ("Walker2d-v5", 300, 1.0, None),
    ("InvertedPendulum-v5", 200, 1.0, _near_healthy_bounds(None, (-0.25, 0.25))),
    ("Hopper-v5", 200, 1.0, _near_healthy_bounds((0.65, 0.75), (-0.25, 0.25))),
    ("Walker2d-v5", 200, 1.0, _near_healthy_bounds((0.75, 2.05), (-1.1, 1.1))),
    ("Reacher-v5", 150, 1.0, None),
]


@pytest.mark.parametrize(("env_id", "steps", "scale", "state_fn"), CASES)
def test_task_functions_match_the_env(env_id, steps, scale, state_fn):
    task = get_task(env_id)
    assert task is not None
    data = _collect(make_env(env_id), steps, seed=0, action_scale=scale, state_fn=state_fn)
    _assert_task_matches(task, data)
    if env_id in ("InvertedPendulum-v5", "Hopper-v5", "Walker2d-v5"):
        # Random actions fall over quickly: both outcomes were checked.
        assert data["terminated"].any() and not data["terminated"].all()
    if state_fn is not None:
        assert data["terminated"].any() and not data["terminated"].all()
    if state_fn is _mountain_car_near_goal:
        assert data["reward"].max() > 99.0  # the terminal bonus was checked


def test_hidden_state_rewards_are_left_to_learn():
    for env_id in ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"):
        task = get_task(env_id)
        assert task.reward is None and not task.reward_exact and "x" in task.note
    for env_id in ("Pendulum-v1", "Reacher-v5", "InvertedPendulum-v5"):
        assert get_task(env_id).reward_exact
    assert set(list_tasks()) >= {c[0] for c in CASES}


def test_reward_state_timing_is_right():
    """Pendulum scores the state before the step, the swing-up the state after it."""
    pend = get_task("Pendulum-v1")
    up, down = jnp.array([1.0, 0.0, 0.0]), jnp.array([-1.0, 0.0, 0.0])
    zero = jnp.zeros(1)
    assert float(pend.reward(up, zero, down)) == 0.0
    assert float(pend.reward(down, zero, up)) == pytest.approx(-(np.pi**2), rel=1e-6)
    swing = get_task("mbrlax/CartpoleSwingup-v0")
    top, bottom = jnp.array([0.0, 0.0, -1.0, 0.0, 0.0]), jnp.array([0.0, 0.0, 1.0, 0.0, 0.0])
    assert float(swing.reward(bottom, zero, top)) == pytest.approx(1.0)
    assert float(swing.reward(top, zero, bottom)) == pytest.approx(np.exp(-4.0))


def test_register_task(monkeypatch):
    monkeypatch.setattr(tasks_module, "_TASKS", dict(tasks_module._TASKS))
    assert get_task("MyEnv-v0") is None

    def reward(obs, action, next_obs):
        return -jnp.sum(next_obs**2)

    task = register_task("MyEnv-v0", reward=reward, note="distance to origin")
    assert get_task("MyEnv-v0") is task and task.reward_exact and task.note == "distance to origin"
    # No termination given: the env only ends by its time limit.
    assert not bool(task.termination(jnp.ones(2), jnp.ones(1), jnp.ones(2)))
    learned = register_task("Other-v0", termination=lambda o, a, n: n[0] > 1.0)
    assert learned.reward is None and not learned.reward_exact
    assert bool(learned.termination(jnp.zeros(2), jnp.zeros(1), jnp.array([2.0, 0.0])))
    with pytest.raises(TypeError, match="reward must be a function"):
        register_task("Bad-v0", reward=1.0)
    with pytest.raises(ValueError, match="non-empty string"):
        register_task("", reward=reward)


def test_task_functions_jit_and_differentiate():
    task = get_task("Reacher-v5")
    obs = jnp.linspace(-0.5, 0.5, 10)
    grad = jax.jit(jax.grad(task.reward, argnums=1))(obs, jnp.array([0.3, -0.2]), obs)
    np.testing.assert_allclose(grad, [-0.6, 0.4], rtol=1e-6)  # d/da of -|a|^2


def test_gymnasium_registry_untouched_by_import():
    """Importing mbrlax.envs registers nothing with Gymnasium (no global state at import)."""
    assert not any(k.startswith("mbrlax") for k in gymnasium.registry)


def test_a_module_id_finds_the_task_its_module_registered():
    # `--env user_envs:PointReachExact-v0` imports tests/user_envs.py, which registers the
    # env and its task under the Gymnasium id alone.
    from mbrlax.envs import get_task, make_env

    make_env("user_envs:PointReachExact-v0").close()
    task = get_task("user_envs:PointReachExact-v0")
    assert task is not None and task.reward_exact
    assert get_task("user_envs:PointReach-v0") is None  # the learned-reward twin has none
