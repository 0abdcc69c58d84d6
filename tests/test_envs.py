"""Environments: JAX envs against Gymnasium and physics oracles; the adapter; check_env."""

from __future__ import annotations

import re

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from mbrlax.envs import (
    CartpoleState,
    CartpoleSwingup,
    EnvError,
    GymEnv,
    JaxGymEnv,
    Pendulum,
    PendulumState,
    as_step_fn,
    check_env,
    gym_adapter,
    list_jax_envs,
    make_env,
    make_jax_env,
    tasks,
)

# ----------------------------------------------------------------------------- Pendulum


def test_pendulum_step_matches_gymnasium():
    """Same state and action -> same next obs and reward as Pendulum-v1, incl. both clips."""
    rng = np.random.default_rng(0)
    n = 300
    # Angles beyond +-pi (Gymnasium never wraps the state), speeds up to the clip, torques
    # beyond the bounds so that both the torque and the speed clipping are exercised.
    theta = rng.uniform(-3 * np.pi, 3 * np.pi, n).astype(np.float32)
    theta_dot = rng.uniform(-8, 8, n).astype(np.float32)
    actions = rng.uniform(-3, 3, (n, 1)).astype(np.float32)

    gym_env = PendulumEnv()
    gym_env.reset(seed=0)
    want_obs, want_reward = [], []
    for th, thd, a in zip(theta, theta_dot, actions, strict=True):
        gym_env.state = np.array([th, thd], dtype=np.float64)
        obs, reward, terminated, truncated, _ = gym_env.step(a)
        assert not terminated and not truncated
        want_obs.append(obs)
        want_reward.append(reward)

    env = Pendulum()
    out = jax.vmap(env.step)(PendulumState(jnp.asarray(theta), jnp.asarray(theta_dot)), actions)
    np.testing.assert_allclose(out.obs, np.stack(want_obs), atol=2e-5)
    np.testing.assert_allclose(out.reward, np.array(want_reward), rtol=1e-5, atol=1e-5)
    assert not out.terminated.any()
    assert np.abs(np.stack(want_obs)[:, 2]).max() == pytest.approx(8.0)  # speed clip was hit


def test_pendulum_reset_distribution():
    keys = jax.random.split(jax.random.key(0), 2000)
    states, obs = jax.vmap(Pendulum().reset)(keys)
    assert obs.shape == (2000, 3) and obs.dtype == jnp.float32
    assert -np.pi <= states.theta.min() < -3.0 and 3.0 < states.theta.max() <= np.pi
    assert -1.0 <= states.theta_dot.min() < -0.95 and 0.95 < states.theta_dot.max() <= 1.0
    np.testing.assert_allclose(obs[:, 0], np.cos(states.theta), atol=1e-6)


# ---------------------------------------------------------------------- CartpoleSwingup


def _rollout(env: CartpoleSwingup, state: CartpoleState, steps: int, action: float = 0.0):
    """States after each of ``steps`` steps with a constant action: fields ``[steps]``."""

    def body(s, _):
        out = env.step(s, jnp.array([action]))
        return out.state, out.state

    return jax.jit(lambda s: jax.lax.scan(body, s, None, length=steps)[1])(state)


def test_cartpole_conserves_energy_and_momentum_without_friction():
    env = CartpoleSwingup(friction=0.0)
    start = CartpoleState(*map(jnp.float32, (0.2, 2.5, 0.3, -1.5)))  # a big swing
    states = _rollout(env, start, 200)
    energy = jax.vmap(env.energy)(states)
    e0 = env.energy(start)
    assert float(jnp.max(jnp.abs(energy - e0))) < 1e-4 * (1.0 + abs(float(e0)))
    # No horizontal external force: the total horizontal momentum dL/dx' is conserved too.
    m, ell = env.pole_mass, env.length

    def momentum(s):
        return (env.cart_mass + m) * s.x_dot - 0.5 * m * ell * jnp.cos(s.theta) * s.theta_dot

    np.testing.assert_allclose(jax.vmap(momentum)(states), momentum(start), atol=1e-5)
    assert float(jnp.ptp(states.theta)) > 1.0  # it really swung


def test_cartpole_friction_dissipates_energy():
    env = CartpoleSwingup()  # friction 0.1: dE/dt = -b x'^2 <= 0 without force
    start = CartpoleState(*map(jnp.float32, (0.0, 2.0, 1.0, 0.0)))
    energy = jax.vmap(env.energy)(_rollout(env, start, 200))
    assert np.all(np.diff(np.concatenate([[env.energy(start)], energy])) <= 1e-6)
    assert energy[-1] < env.energy(start) - 1e-3


def test_cartpole_hanging_still_stays_still_and_upright_falls():
    env = CartpoleSwingup()
    rest = CartpoleState(*([jnp.float32(0.0)] * 4))
    still = _rollout(env, rest, 200)
    for field in still:
        np.testing.assert_array_equal(field, 0.0)
    near_up = CartpoleState(*map(jnp.float32, (0.0, np.pi - 0.01, 0.0, 0.0)))
    fallen = _rollout(env, near_up, 60)
    assert float(jnp.max(jnp.abs(fallen.theta - np.pi))) > 2.5  # fell through the bottom


def test_cartpole_linearised_growth_rate_near_upright():
    """Without friction, a small tilt d grows as d0 cosh(lam t) with lam^2 from the linearised
    equations: lam^2 = (M + m) m g l/2 / ((M + m) m l^2/3 - (m l/2)^2)."""
    env = CartpoleSwingup(friction=0.0)
    big_m, m, ell, g = env.cart_mass, env.pole_mass, env.length, env.g
    det = (big_m + m) * m * ell**2 / 3 - (m * ell / 2) ** 2
    lam = np.sqrt((big_m + m) * m * g * ell / 2 / det)
    d0 = 1e-3
    states = _rollout(env, CartpoleState(*map(jnp.float32, (0.0, np.pi - d0, 0.0, 0.0))), 10)
    t = env.dt * np.arange(1, 11)
    np.testing.assert_allclose(np.pi - np.asarray(states.theta), d0 * np.cosh(lam * t), rtol=2e-3)


def test_cartpole_reward_and_observation():
    env = CartpoleSwingup()
    up = CartpoleState(*map(jnp.float32, (0.0, np.pi, 0.0, 0.0)))
    # Upright balance is an (unstable) equilibrium: zero action keeps it for one step.
    out = env.step(up, jnp.array([0.0]))
    assert float(out.reward) == pytest.approx(1.0, abs=1e-5)
    down = CartpoleState(*([jnp.float32(0.0)] * 4))
    out = env.step(down, jnp.array([0.5]))
    # The tip is 2l below the target: exp(-4); the action costs 0.01 * 0.5^2.
    assert float(out.reward) == pytest.approx(np.exp(-4.0) - 0.0025, abs=1e-4)
    # Actions are clipped: 5 and 1 do the same thing.
    a = env.step(down, jnp.array([5.0]))
    b = env.step(down, jnp.array([1.0]))
    np.testing.assert_array_equal(a.obs, b.obs)
    assert float(a.reward) == float(b.reward)
    np.testing.assert_allclose(env.observe(up), [0.0, 0.0, -1.0, 0.0, 0.0], atol=1e-6)


def test_cartpole_reset_distribution():
    states, obs = jax.vmap(CartpoleSwingup().reset)(jax.random.split(jax.random.key(1), 4000))
    assert obs.shape == (4000, 5)
    for field in states:
        assert abs(float(field.mean())) < 0.01 and float(field.std()) == pytest.approx(0.1, 0.05)


# ------------------------------------------------------------------ planner interface


@pytest.mark.parametrize("env", [Pendulum(), CartpoleSwingup()], ids=["pendulum", "cartpole"])
def test_as_step_fn_is_jittable_and_differentiable(env):
    step = as_step_fn(env)
    state, _ = env.reset(jax.random.key(0))

    def total_reward(actions):  # a 10-step open-loop rollout, as a planner would do
        def body(s, a):
            s, r, _ = step(s, a, jax.random.key(0))
            return s, r

        return jax.lax.scan(body, state, actions)[1].sum()

    actions = 0.3 * jnp.ones((10, 1))
    value, grad = jax.jit(jax.value_and_grad(total_reward))(actions)
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0
    # The gradient is the true one: compare with a central finite difference in float32.
    eps = 1e-2
    bump = jnp.zeros((10, 1)).at[0, 0].set(eps)
    fd = jax.jit(lambda a: (total_reward(a + bump) - total_reward(a - bump)) / (2 * eps))(actions)
    assert float(grad[0, 0]) == pytest.approx(float(fd), rel=0.05, abs=1e-3)
    next_state, reward, done = jax.jit(step)(state, actions[0], jax.random.key(1))
    assert reward.shape == () and done.dtype == jnp.bool_ and not done


# ------------------------------------------------------------------------- JaxGymEnv


def test_jax_gym_env_seeding_truncation_and_render():
    env = JaxGymEnv(Pendulum(), render_mode="rgb_array")
    obs0, _ = env.reset(seed=3)
    obs0_again, _ = env.reset(seed=3)
    obs_other, _ = env.reset(seed=4)
    np.testing.assert_array_equal(obs0, obs0_again)
    assert obs0.dtype == np.float32 and obs0.shape == (3,)
    assert not np.array_equal(obs0, obs_other)
    # Unseeded resets continue the seeded key stream: reproducible across instances.
    env2 = JaxGymEnv(Pendulum())
    env.reset(seed=5), env2.reset(seed=5)
    np.testing.assert_array_equal(env.reset()[0], env2.reset()[0])

    state = env._state
    obs, reward, terminated, truncated, _ = env.step(np.array([1.0], np.float32))
    expected = Pendulum().step(state, jnp.array([1.0]))
    np.testing.assert_allclose(obs, expected.obs, rtol=1e-6)
    assert reward == pytest.approx(float(expected.reward), rel=1e-6)
    for t in range(2, 201):
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        assert truncated == (t == 200) and not terminated
    frame = env.render()
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    assert (frame != 255).any() and (frame == 255).any()  # something drawn on white

    with pytest.raises(gymnasium.error.ResetNeeded):
        JaxGymEnv(Pendulum()).step(np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="rgb_array"):
        JaxGymEnv(Pendulum(), render_mode="human")


# ------------------------------------------------------------------------ make_env


def test_make_env_gymnasium_ids_and_instances():
    env = make_env("Pendulum-v1")
    assert isinstance(env, GymEnv) and isinstance(env.env, gymnasium.Env)
    spec = env.spec
    assert (spec.env_id, spec.obs_shape, spec.action_kind) == ("Pendulum-v1", (3,), "continuous")
    assert (spec.action_low, spec.action_high, spec.max_episode_steps) == ((-2.0,), (2.0,), 200)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (3,) and isinstance(info, dict)
    obs, reward, terminated, truncated, _ = env.step(np.array([0.5]))  # float64 in: cast
    assert isinstance(reward, float) and terminated is False and truncated is False
    with pytest.raises(EnvError, match=r"shape \(1,\)"):
        env.step(np.array([0.5, 0.5]))

    cartpole = make_env("CartPole-v1")
    assert cartpole.spec.action_kind == "discrete" and cartpole.spec.num_actions == 2
    assert cartpole.spec.action_shape == () and cartpole.spec.max_episode_steps == 500
    cartpole.reset(seed=0)
    cartpole.step(1)
    cartpole.step(np.int64(0))
    with pytest.raises(EnvError, match="Discrete"):
        cartpole.step(2)
    with pytest.raises(EnvError, match="Discrete"):
        cartpole.step(0.5)

    bare = make_env(PendulumEnv())  # an instance without a TimeLimit
    assert bare.spec.env_id == "PendulumEnv" and bare.spec.max_episode_steps is None
    wrapped = make_env(gymnasium.wrappers.TimeLimit(PendulumEnv(), 77))
    assert wrapped.spec.max_episode_steps == 77


def test_make_env_mbrlax_ids():
    assert set(list_jax_envs()) >= {"mbrlax/Pendulum-v0", "mbrlax/CartpoleSwingup-v0"}
    env = make_env("mbrlax/CartpoleSwingup-v0", friction=0.0)
    assert isinstance(env.env, JaxGymEnv) and env.env.jax_env.friction == 0.0
    assert env.spec.env_id == "mbrlax/CartpoleSwingup-v0"
    assert env.spec.obs_shape == (5,) and env.spec.max_episode_steps == 200
    assert isinstance(make_jax_env("mbrlax/Pendulum-v0"), Pendulum)
    with pytest.raises(EnvError, match="mbrlax/CartpoleSwingup-v0"):
        make_jax_env("mbrlax/CartpoleSwingUp-v0")


def test_make_env_unknown_ids_suggest_close_matches():
    with pytest.raises(EnvError, match="Pendulum-v1") as info:
        make_env("Pendulum-v0")
    assert "mbrlax/Pendulum-v0" in str(info.value)
    with pytest.raises(EnvError, match="HalfCheetah-v5"):
        make_env("HalfCheeta-v5")
    with pytest.raises(EnvError, match="mbrlax/CartpoleSwingup-v0"):
        make_env("mbrlax/CartpoleSwingup-v1")
    with pytest.raises(EnvError, match="gymnasium.Env"):
        make_env(42)


def test_make_env_mujoco_missing(monkeypatch):
    monkeypatch.setattr(gym_adapter, "_mujoco_available", lambda: False)
    with pytest.raises(EnvError, match=r"pip install 'mbrlax\[mujoco\]'"):
        make_env("Hopper-v5")
    make_env("Pendulum-v1")  # classic control does not need it


class _SpacesEnv(gymnasium.Env):
    """A do-nothing env with the given spaces."""

    def __init__(self, observation_space, action_space):
        self.observation_space = observation_space
        self.action_space = action_space


BOX2 = spaces.Box(-1.0, 1.0, (2,), np.float32)


@pytest.mark.parametrize(
    ("obs_space", "act_space", "message"),
    [
        (spaces.Dict({"a": BOX2}), BOX2, "Dict observation spaces are not supported"),
        (spaces.Tuple((BOX2, BOX2)), BOX2, "FlattenObservation"),
        (spaces.Box(0, 255, (64, 64), np.uint8), BOX2, r"nor RGB frames.*\?pixels=64"),
        (spaces.Box(0, 1, (8,), np.uint8), BOX2, "neither a vector of floats nor RGB frames"),
        (spaces.Box(0, 1, (4, 4), np.float32), BOX2, "FlattenObservation"),
        (BOX2, spaces.Box(-np.inf, np.inf, (2,), np.float32), "infinite bounds.*RescaleAction"),
        (BOX2, spaces.MultiDiscrete([2, 3]), "MultiDiscrete action spaces are not supported"),
        (BOX2, spaces.MultiBinary(3), "MultiBinary action spaces are not supported"),
        (BOX2, spaces.Box(-1, 1, (2, 2), np.float32), "must be a vector"),
    ],
)
def test_make_env_rejects_unsupported_spaces(obs_space, act_space, message):
    with pytest.raises(EnvError, match=message):
        make_env(_SpacesEnv(obs_space, act_space))


# ------------------------------------------------------------------------ check_env


class GoodEnv(gymnasium.Env):
    """A tiny, correct env: a point on a line pushed by the action."""

    observation_space = spaces.Box(-10.0, 10.0, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._x.copy(), {}

    def step(self, action):
        self._x = np.clip(self._x + 0.1 * action[0], -10, 10).astype(np.float32)
        return self._x.copy(), float(-np.sum(self._x**2)), False, False, {}


def _limited(env: gymnasium.Env) -> gymnasium.Env:
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=50)


def test_check_env_accepts_a_good_env_with_a_registered_task(monkeypatch):
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))  # registrations stay local
    env = _limited(GoodEnv())
    problems = check_env(env)
    assert len(problems) == 1 and "mbrlax will learn the reward" in problems[0]
    assert "register_task" in problems[0]
    tasks.register_task("GoodEnv", reward=lambda o, a, n: -jnp.sum(n**2))
    assert check_env(env) == []
    assert check_env("Pendulum-v1") == [] and check_env("mbrlax/CartpoleSwingup-v0") == []


class NoTupleReset(GoodEnv):
    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed)[0]


class NoSeedReset(GoodEnv):
    def reset(self):
        return super().reset()


class UnseededReset(GoodEnv):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._x = np.random.default_rng().uniform(-1, 1, 2).astype(np.float32)
        return self._x.copy(), {}


class WrongDtypeObs(GoodEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        return obs.astype(np.float64), info


class WrongShapeObs(GoodEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        return obs[:1], info


class OutOfBoundsObs(GoodEnv):
    def step(self, action):
        _, *rest = super().step(action)
        return np.full(2, 50.0, np.float32), *rest


class OldGymStep(GoodEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or truncated, info


class NanReward(GoodEnv):
    def step(self, action):
        obs, _, *rest = super().step(action)
        return obs, float("nan"), *rest


class ArrayReward(GoodEnv):
    def step(self, action):
        obs, reward, *rest = super().step(action)
        return obs, np.array([reward]), *rest


class IntTerminated(GoodEnv):
    def step(self, action):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, 0, truncated, info


class CrashingStep(GoodEnv):
    def step(self, action):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("env_cls", "message"),
    [
        (NoTupleReset, r"reset must return a tuple \(obs, info\)"),
        (NoSeedReset, "must accept the keyword arguments seed"),
        (UnseededReset, "seeding does not make reset deterministic"),
        (WrongDtypeObs, "dtype float64, but observation_space has dtype float32"),
        (WrongShapeObs, r"shape \(1,\), but observation_space has shape \(2,\)"),
        (OutOfBoundsObs, "step returned an observation outside observation_space"),
        (OldGymStep, "old gym API"),
        (NanReward, "non-finite reward"),
        (ArrayReward, "reward of type ndarray"),
        (IntTerminated, "terminated of type int"),
        (CrashingStep, "raised RuntimeError: boom"),
    ],
)
def test_check_env_reports_each_problem(env_cls, message, capsys):
    problems = check_env(_limited(env_cls()), verbose=True)
    task_note = [p for p in problems if "mbrlax will learn the reward" in p]
    others = [p for p in problems if p not in task_note]
    assert len(others) == 1, problems  # exactly the planted problem, nothing else
    assert re.search(message, others[0]), others[0]
    assert "problem" in capsys.readouterr().out


def test_check_env_reports_spaces_and_missing_time_limit():
    problems = check_env(GoodEnv())
    assert any("No time limit" in p and "TimeLimit" in p for p in problems)
    problems = check_env(_limited(_DictObsEnv()))
    assert any("Dict observation spaces are not supported" in p for p in problems)
    assert check_env("NoSuchEnv-v0")[0].startswith("Unknown env id")


class _DictObsEnv(GoodEnv):
    observation_space = spaces.Dict({"x": spaces.Box(-10.0, 10.0, (2,), np.float32)})

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        return {"x": obs}, info

    def step(self, action):
        obs, *rest = super().step(action)
        return {"x": obs}, *rest


@pytest.mark.parametrize(
    "env_id", [e for e in list_jax_envs() if make_jax_env(e).spec.is_continuous]
)
def test_state_from_obs_inverts_observe_for_the_dynamics(env_id):
    """Planning from an observation (KnownModelMPC) predicts what the env does."""
    env = make_jax_env(env_id)
    low, high = env.spec.action_bounds()
    state, obs = env.reset(jax.random.key(3))
    for key in jax.random.split(jax.random.key(4), 20):
        action = jax.random.uniform(key, low.shape, minval=low, maxval=high)
        recovered = env.state_from_obs(obs)
        np.testing.assert_allclose(env.observe(recovered), obs, atol=1e-5)
        expected, got = env.step(state, action), env.step(recovered, action)
        np.testing.assert_allclose(got.obs, expected.obs, atol=1e-4)
        np.testing.assert_allclose(got.reward, expected.reward, atol=1e-4)
        state, obs = expected.state, expected.obs


# ------------------------------------------------------------------- discrete observations


class _CountingEnv(gymnasium.Env):
    """Discrete(5, start=2) observations: action 1 moves up, 0 stays; ends at the top."""

    observation_space = spaces.Discrete(5, start=2)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 2
        return self.s, {}

    def step(self, action):
        self.s = min(self.s + int(action), 6)
        return self.s, float(self.s == 6), self.s == 6, False, {}


def test_discrete_observations_are_int_indices_from_zero():
    env = make_env(_CountingEnv())
    assert env.spec.is_tabular and env.spec.num_states == 5 and env.spec.obs_shape == ()
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.int32 and obs.shape == () and int(obs) == 0  # start=2 is index 0
    obs, reward, terminated, *_ = env.step(1)
    assert int(obs) == 1 and reward == 0.0 and not terminated


@pytest.mark.parametrize(
    ("env_id", "num_states", "num_actions"),
    [("FrozenLake-v1", 16, 4), ("CliffWalking-v1", 48, 4), ("Taxi-v4", 500, 6)],
)
def test_gymnasium_toy_text_envs_are_tabular(env_id, num_states, num_actions):
    env = make_env(env_id)
    spec = env.spec
    assert (spec.num_states, spec.num_actions, spec.obs_shape) == (num_states, num_actions, ())
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.int32 and 0 <= int(obs) < num_states


def test_maze_through_gymnasium_keeps_its_clock_over_episodes():
    """The blocking maze's walls move at a global step: resets after the first carry it on."""
    env = make_env("mbrlax/BlockingMaze-v0", change_at=5)
    assert env.spec.is_tabular and env.spec.num_states == 54
    env.reset(seed=0)
    for _ in range(3):
        env.step(0)
    env.reset(seed=1)
    assert int(env.snapshot()["state"].clock) == 3
    env.env.reset(seed=1, options={"fresh": True})
    assert int(env.snapshot()["state"].clock) == 0
