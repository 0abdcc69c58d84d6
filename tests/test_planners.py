"""Planners against oracles: known optima, exact warm starts, termination, NaNs, bounds."""

from __future__ import annotations

import dataclasses
import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import make_jax_env
from mbrlax.planners import (
    CEM,
    DDP,
    ICEM,
    ILQR,
    MCTS,
    MPPI,
    GradientShooting,
    ICEMState,
    KnownModelPlanner,
    RandomShooting,
    colored_noise,
    mppi_samples,
    path_integral_weights,
    sequence_returns,
    shift_plan,
)

H = 4  # short horizons keep compile and run time small

# Small but sufficient budgets; each planner compiles once per step function.
PLANNERS = {
    # Random shooting searches all H * A dimensions blindly: it gets a shorter horizon.
    "random_shooting": RandomShooting(horizon=2, population=10_000),
    "cem": CEM(horizon=H, population=200, num_elites=20, iterations=10),
    "cem_constrained": CEM(
        horizon=H, population=200, num_elites=20, iterations=10, constrain_variance=True
    ),
    "cem_best": CEM(horizon=H, population=200, num_elites=20, iterations=10, return_best=True),
    "icem": ICEM(horizon=H, population=600, num_elites=10, iterations=3),
    "mppi": MPPI(horizon=H, population=200, iterations=10, temperature=0.1, noise_std=0.2),
    # TD-MPC2's settings (64 elites of 512, the spread refitted from 2 half-ranges down to 0.05),
    # its temperature 0.5 being our 1 / 0.5.
    "mppi_tdmpc2": MPPI(
        horizon=H,
        population=512,
        iterations=6,
        elites=64,
        std_update=True,
        noise_std=2.0,
        min_std=0.05,
        temperature=2.0,
    ),  # fmt: skip
}
# The objectives below are quadratic near the optimum: a return within 0.1 of the optimum
# allows first actions off by ~0.15 (the mid-point plan is 8 below the optimum). Random
# shooting searches blindly and iCEM executes the best *sample*, so both are less precise.
ACTION_TOL = {"random_shooting": 0.3, "icem": 0.25}
RETURN_TOL = {"random_shooting": 0.5, "icem": 0.2, "mppi": 0.15}
FIRST_CALL_RETURN_TOL = 1.0  # a cold start from the mid-point (iCEM relies on warm starts)


def _no_termination() -> jax.Array:
    return jnp.array(False)


# --------------------------------------------------------------------------- rollouts


def test_sequence_returns_discount_termination_and_terminal_value_exactly():
    # state = t; reward r_t = t + 1; terminates after step `stop` (its reward counts).
    stop = 2

    def step(t, a, key):
        del key
        return t + 1, (t + 1).astype(jnp.float32) + 0.0 * a[0], t == stop

    actions = jnp.zeros((1, 5, 1))
    key = jax.random.key(0)
    gamma = 0.9
    ret = sequence_returns(step, jnp.array(0), actions, key, discount=gamma)
    expected = sum(gamma**t * (t + 1) for t in range(stop + 1))
    np.testing.assert_allclose(ret, [expected], rtol=1e-6)

    # V(s_H) counts (times gamma**H) only for a candidate still alive at the end.
    def value(t):
        return jnp.asarray(100.0)

    def never(t, a, key):
        return t + 1, jnp.array(1.0), jnp.array(False)

    ret = sequence_returns(never, jnp.array(0), actions, key, gamma, value)
    np.testing.assert_allclose(ret, [sum(gamma**t for t in range(5)) + gamma**5 * 100], rtol=1e-6)
    ret = sequence_returns(step, jnp.array(0), actions, key, gamma, value)
    np.testing.assert_allclose(ret, [expected], rtol=1e-6)


def test_sequence_returns_non_finite_is_minus_inf_and_dead_nan_is_ignored():
    # reward NaN for a > 0.5, +inf for a < -0.5; after termination the state itself is NaN.
    def step(x, a, key):
        r = jnp.where(a[0] > 0.5, jnp.nan, jnp.where(a[0] < -0.5, jnp.inf, 1.0))
        return x * jnp.nan, r, jnp.array(True)  # terminates at once: later NaNs are dead

    actions = jnp.array([[[0.9], [0.0]], [[-0.9], [0.0]], [[0.0], [0.9]]])
    ret = sequence_returns(step, jnp.array(1.0), actions, jax.random.key(0))
    np.testing.assert_array_equal(ret, [-jnp.inf, -jnp.inf, 1.0])


def test_sequence_returns_gives_each_candidate_its_own_noise():
    def step(x, a, key):
        return x, jax.random.normal(key), jnp.array(False)

    ret = sequence_returns(step, jnp.array(0.0), jnp.zeros((64, 3, 1)), jax.random.key(1))
    assert np.unique(np.asarray(ret)).size == 64
    again = sequence_returns(step, jnp.array(0.0), jnp.zeros((64, 3, 1)), jax.random.key(1))
    np.testing.assert_array_equal(ret, again)


def test_shift_plan():
    plan = jnp.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(shift_plan(plan, jnp.array([9.0, 8.0])), [[2, 3], [4, 5], [9, 8]])


# --------------------------------------------------------------------------- noise and weights


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_colored_noise_has_unit_variance_and_power_law_spectrum(beta):
    n = 64
    noise = np.asarray(colored_noise(jax.random.key(0), beta, (n, 4000)))
    assert noise.shape == (n, 4000)
    np.testing.assert_allclose(noise.std(axis=1), 1.0, atol=0.05)
    power = (np.abs(np.fft.rfft(noise, axis=0)) ** 2).mean(axis=1)
    freqs = np.fft.rfftfreq(n)
    inner = slice(1, -1)  # DC and Nyquist bins are special-cased by the generator
    slope = np.polyfit(np.log(freqs[inner]), np.log(power[inner]), 1)[0]
    np.testing.assert_allclose(slope, -beta, atol=0.15)


def test_path_integral_weights_stable_and_finite():
    returns = jnp.array([1.0, 2.0, 0.0])
    np.testing.assert_allclose(
        path_integral_weights(returns, 0.5), jax.nn.softmax(returns / 0.5), rtol=1e-6
    )
    huge = path_integral_weights(jnp.array([1e6, 1e6 - 100.0, -jnp.inf, jnp.nan]), 1.0)
    np.testing.assert_allclose(huge, [1.0, 0.0, 0.0, 0.0], atol=1e-30)
    none = path_integral_weights(jnp.array([-jnp.inf, jnp.nan]), 1.0)
    np.testing.assert_array_equal(none, [0.0, 0.0])


# --------------------------------------------------------------------------- planners


LOW = np.array([-1.0, -0.5], np.float32)
HIGH = np.array([1.0, 0.5], np.float32)
# Action 0 tracks a target inside the bounds; action 1 a target above the upper bound, so its
# optimum is the bound itself. Long enough for states t = 0..2 plus a horizon.
TARGET = jnp.stack([jnp.array([0.6, 0.4, 0.1, -0.2, -0.4, -0.5, -0.5]), jnp.full((7,), 2.0)], -1)
OPTIMUM_PER_STEP = -((2.0 - 0.5) ** 2)
BONUS = 1e3  # paid for any action outside the bounds: sampling outside would be caught


def _tracking_step(t, a, key):
    del key
    outside = jnp.any((a < LOW - 1e-6) | (a > HIGH + 1e-6))
    reward = -jnp.sum((a - TARGET[t]) ** 2) + BONUS * outside
    return t + 1, reward, _no_termination()


@pytest.mark.parametrize("name", list(PLANNERS))
def test_finds_known_optimum_in_bounds_and_compiles_once(name):
    config = PLANNERS[name]
    h, optimum = config.horizon, config.horizon * OPTIMUM_PER_STEP
    planner = config.build(LOW, HIGH)
    traces = 0

    def plan(pstate, t, key):
        nonlocal traces
        traces += 1
        return planner.plan(pstate, _tracking_step, t, key)

    plan = jax.jit(plan)
    pstate = planner.init()
    mid = (LOW + HIGH) / 2
    tol, rtol = ACTION_TOL.get(name, 0.15), RETURN_TOL.get(name, 0.1)
    # Three MPC calls at t = 0, 1, 2: the first from a cold start, the next warm-started.
    for t, key in enumerate(jax.random.split(jax.random.key(0), 3)):
        action, next_pstate, info = plan(pstate, jnp.array(t), key)
        assert action.shape == (2,) and action.dtype == jnp.float32
        assert np.all(action >= LOW) and np.all(action <= HIGH)
        assert set(info) >= {"expected_return", "best_return", "finite_fraction"}
        assert all(v.shape == () for v in info.values())
        # Nothing outside the bounds was ever evaluated: it would have earned the bonus.
        assert info["best_return"] <= optimum + 1e-4
        assert info["finite_fraction"] == 1.0
        kept = [next_pstate.elites] if isinstance(next_pstate, ICEMState) else []
        for leaf in (next_pstate.mean, *kept):
            assert np.all(leaf >= LOW) and np.all(leaf <= HIGH)
        # Warm start: the mid-point fills the freed last step.
        np.testing.assert_array_equal(next_pstate.mean[-1], mid)
        if t == 0:
            assert info["expected_return"] >= optimum - FIRST_CALL_RETURN_TOL
        else:
            np.testing.assert_allclose(info["expected_return"], optimum, atol=rtol)
            np.testing.assert_allclose(action, [TARGET[t, 0], HIGH[1]], atol=tol)
            np.testing.assert_allclose(next_pstate.mean[:-1, 0], TARGET[t + 1 : t + h, 0], atol=tol)
        pstate = next_pstate
    assert traces == 1
    # Same inputs, same key: the same decision, bit for bit.
    again = plan(pstate, jnp.array(0), jax.random.key(5))
    np.testing.assert_array_equal(again[0], plan(pstate, jnp.array(0), jax.random.key(5))[0])
    assert traces == 1


def _frozen_plan(horizon: int) -> jax.Array:
    """A warm-start plan ``[horizon, 2]`` in ``[LOW, HIGH]``, unlike any a planner would make."""
    return LOW + (HIGH - LOW) * jax.random.uniform(jax.random.key(42), (horizon, 2))


@pytest.mark.parametrize("config", [PLANNERS["cem"], PLANNERS["icem"]], ids=["cem", "icem"])
def test_warm_start_with_frozen_mean_shifts_exactly(config):
    # alpha = 1 keeps all the weight on the old mean: the plan is exactly the warm start.
    planner = dataclasses.replace(config, alpha=1.0).build(LOW, HIGH)
    start = planner.init()
    plan = _frozen_plan(config.horizon)
    pstate = start._replace(mean=plan, std=start.std * 0.5)
    action, next_pstate, _ = jax.jit(planner.plan, static_argnames="step")(
        pstate, step=_tracking_step, state=jnp.array(0), key=jax.random.key(0)
    )
    np.testing.assert_array_equal(next_pstate.mean, shift_plan(plan, (LOW + HIGH) / 2))
    np.testing.assert_array_equal(next_pstate.std, start.std)  # reset, not carried
    assert jax.tree.map(jnp.shape, next_pstate) == jax.tree.map(jnp.shape, start)
    if isinstance(config, CEM):
        np.testing.assert_array_equal(action, plan[0])  # CEM executes the mean


def test_warm_start_random_shooting_keeps_previous_plan_when_it_is_best():
    plan = _frozen_plan(PLANNERS["random_shooting"].horizon)

    def step(t, a, key):  # the warm-start plan itself is the unique optimum
        return t + 1, -jnp.sum((a - plan[t]) ** 2), _no_termination()

    planner = PLANNERS["random_shooting"].build(LOW, HIGH)
    pstate = planner.init()._replace(mean=plan)
    action, next_pstate, info = jax.jit(planner.plan, static_argnames="step")(
        pstate, step=step, state=jnp.array(0), key=jax.random.key(0)
    )
    np.testing.assert_array_equal(action, plan[0])
    np.testing.assert_array_equal(next_pstate.mean, shift_plan(plan, (LOW + HIGH) / 2))
    assert info["expected_return"] == 0.0


def test_mppi_all_nan_leaves_plan_unchanged_and_shifts_it():
    plan = _frozen_plan(PLANNERS["mppi"].horizon)

    def step(t, a, key):
        return t + 1, jnp.nan * a[0], _no_termination()

    planner = PLANNERS["mppi"].build(LOW, HIGH)
    pstate = planner.init()._replace(mean=plan)
    action, next_pstate, info = jax.jit(planner.plan, static_argnames="step")(
        pstate, step=step, state=jnp.array(0), key=jax.random.key(0)
    )
    np.testing.assert_array_equal(action, plan[0])
    np.testing.assert_array_equal(next_pstate.mean, shift_plan(plan, (LOW + HIGH) / 2))
    assert info["finite_fraction"] == 0.0 and info["expected_return"] == -jnp.inf


def test_mppi_control_cost_pulls_the_plan_towards_zero():
    # With no reward the score is the likelihood-ratio term alone, -gamma U.eps / sigma^2; for
    # small noise the update is then ~ -(gamma / lambda) U, so gamma = lambda sends U to 0.
    def step(t, a, key):
        return t + 1, jnp.array(0.0), _no_termination()

    start = jnp.full((H, 1), 0.5)
    means = []
    for weight in (0.0, PLANNERS["mppi"].temperature):
        config = dataclasses.replace(PLANNERS["mppi"], control_cost_weight=weight)
        planner = config.build(np.array([-1.0]), np.array([1.0]))
        _, pstate, _ = planner.plan(
            planner.init()._replace(mean=start), step, jnp.array(0), jax.random.key(0)
        )
        means.append(np.asarray(pstate.mean[:-1]))
    np.testing.assert_allclose(means[0], 0.5, atol=0.1)  # unweighted noise averages out
    np.testing.assert_allclose(means[1], 0.0, atol=0.1)


def test_mppi_elites_std_update_and_proposals_are_tdmpc2s():
    # TD-MPC2's MPPI, step by step: only the k best are weighted, the spread is refitted to
    # the weighted samples around the new plan, each call starts wide again, and the
    # proposals are among the samples of every iteration, unchanged.
    config = MPPI(
        horizon=H, population=64, iterations=3, elites=8, std_update=True, noise_std=1.0,
        min_std=0.05, temperature=0.5, proposals=4,
    )  # fmt: skip
    low, high = np.array([-1.0]), np.array([1.0])
    target = jnp.array([0.3, -0.2, 0.1, 0.4])

    def step(t, a, key):
        return t + 1, -jnp.sum((a - target[t]) ** 2), _no_termination()

    def proposal(t, key):  # a "policy" that proposes the optimum plus a little noise
        return target[:, None] + 0.01 * jax.random.normal(key, (H, 1))

    planner = config.build(low, high, proposal=proposal)
    pstate = planner.init()
    key = jax.random.key(3)
    its = mppi_samples(config, low, high, pstate, step, jnp.array(0), key, proposal=proposal)
    for i in range(config.iterations):
        w, r = np.asarray(its.weights[i]), np.asarray(its.returns[i])
        assert (w > 0).sum() == 8 and set(np.flatnonzero(w)) == set(np.argsort(r)[-8:])
        np.testing.assert_array_equal(its.samples[i, :4], its.samples[0, :4])
        np.testing.assert_allclose(its.plan[i], np.einsum("n,nha->ha", w, its.samples[i]),
                                   atol=1e-6)  # fmt: skip
    # The first iteration samples around the mid-point plan with the widest spread.
    assert 0.5 < float(np.std(its.samples[0, 4:] - its.mean[0])) < 0.8  # clipped N(0, 1)
    action, next_pstate, _ = planner.plan(pstate, step, jnp.array(0), key)
    np.testing.assert_allclose(action, its.plan[-1, 0], atol=1e-6)
    w, x, plan = its.weights[-1], its.samples[-1], its.plan[-1]
    spread = np.sqrt(np.einsum("n,nha->ha", w, (x - plan) ** 2)).clip(0.05, 1.0)
    np.testing.assert_allclose(next_pstate.std, spread, atol=1e-6)  # not shifted: std[0] is
    assert np.all(next_pstate.std < 0.3)  # the action's; it narrowed around the optimum
    np.testing.assert_allclose(its.plan[-1, :, 0], target, atol=0.05)
    # The next call starts wide again, whatever spread the state keeps.
    again = mppi_samples(config, low, high, next_pstate, step, jnp.array(0), key,
                         proposal=proposal)  # fmt: skip
    assert float(np.std(again.samples[0, 4:] - again.mean[0])) > 0.5


# Termination oracle (actions in [-1, 1]): in the normal mode an action > 0.5 pays 1 and
# terminates, anything else pays 0.5; the terminal "jackpot" mode would pay 10 per step.
# Respecting termination, the best (H = 4) is 0.5 three times then terminate: 2.5, first action
# <= 0.5. A planner ignoring termination would jump at once: 1 + 3 * 10 = 31.
def _jackpot_step(jackpot, a, key):
    del key
    jump = a[0] > 0.5
    reward = jnp.where(jackpot, 10.0, jnp.where(jump, 1.0, 0.5))
    return jackpot | jump, reward, ~jackpot & jump


def test_jackpot_oracle_would_mislead_a_planner_that_ignores_termination():
    def ignoring(jackpot, a, key):
        next_state, reward, _ = _jackpot_step(jackpot, a, key)
        return next_state, reward, _no_termination()

    actions = jnp.array([[[0.0], [0.0], [0.0], [1.0]], [[1.0], [0.0], [0.0], [0.0]]])
    key = jax.random.key(0)
    np.testing.assert_allclose(
        sequence_returns(_jackpot_step, jnp.array(False), actions, key), [2.5, 1.0]
    )
    np.testing.assert_allclose(
        sequence_returns(ignoring, jnp.array(False), actions, key), [2.5, 31.0]
    )


@pytest.mark.parametrize("name", ["random_shooting", "cem", "icem", "mppi"])
def test_respects_termination(name):
    planner = PLANNERS[name].build(np.array([-1.0]), np.array([1.0]))
    action, _, info = jax.jit(planner.plan, static_argnames="step")(
        planner.init(), step=_jackpot_step, state=jnp.array(False), key=jax.random.key(3)
    )
    assert action[0] <= 0.5
    best = 0.5 * (PLANNERS[name].horizon - 1) + 1.0  # wait, then jump at the last step
    np.testing.assert_allclose(info["expected_return"], best, atol=0.05)


# NaN oracle: reward -(a - 0.9)^2 is best at 0.9 but NaN above 0.8, so the best finite plan
# is 0.8 at every step (return -H * 0.01; doing nothing, a = 0, returns -H * 0.81). Averaging
# planners (MPPI, CEM's mean) stay a little inside such a cliff.
def _nan_step(t, a, key):
    del key
    reward = jnp.where(a[0] > 0.8, jnp.nan, -((a[0] - 0.9) ** 2))
    return t + 1, reward, _no_termination()


@pytest.mark.parametrize("name", ["random_shooting", "cem", "icem", "mppi"])
def test_nan_candidates_are_never_chosen(name):
    planner = PLANNERS[name].build(np.array([-1.0]), np.array([1.0]))
    plan = jax.jit(planner.plan, static_argnames="step")
    pstate = planner.init()
    h = PLANNERS[name].horizon
    for t, key in enumerate(jax.random.split(jax.random.key(4), 2)):
        action, pstate, info = plan(pstate, step=_nan_step, state=jnp.array(t), key=key)
        assert np.isfinite(action).all() and action[0] <= 0.8
        assert np.isfinite(info["expected_return"]) and np.isfinite(info["best_return"])
        assert 0.0 < info["finite_fraction"] < 1.0
        assert np.isfinite(pstate.mean).all() and np.all(pstate.mean <= 0.8)
    # Warm-started, the plan sits at the edge of the cliff.
    np.testing.assert_allclose(action, [0.8], atol=0.2)
    assert info["expected_return"] >= -h * 0.01 - 0.3


def test_terminal_value_is_planned_for():
    # x += a, no reward; V(x_H) = -(x_H - 2.5)^2 needs a sum of 2.5 from three actions in
    # [-1, 1], so every action >= 0.5; without V every plan would be equally good.
    def step(x, a, key):
        return x + a[0], jnp.array(0.0), _no_termination()

    def value(x):
        return -((x - 2.5) ** 2)

    config = CEM(horizon=3, discount=0.9, population=100, num_elites=10, iterations=6)
    planner = config.build(np.array([-1.0]), np.array([1.0]), terminal_value=value)
    action, _, info = jax.jit(planner.plan, static_argnames="step")(
        planner.init(),
        step=step,
        state=jnp.array(0.0),
        key=jax.random.PRNGKey(0),  # legacy key
    )
    assert 0.45 <= action[0] <= 1.0
    assert info["expected_return"] >= -0.05


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CEM(num_elites=500), "num_elites"),
        (lambda: CEM(horizon=0), "horizon"),
        (lambda: CEM(alpha=1.5), "alpha"),
        (lambda: ICEM(discount=0.0), "discount"),
        (lambda: ICEM(population_decay=0.5), "population_decay"),
        (lambda: MPPI(temperature=0.0), "temperature"),
        (lambda: MPPI(population=10, elites=11), "elites"),
        (lambda: MPPI(population=10, proposals=10), "proposals"),
        (lambda: MPPI(noise_std=0.5, min_std=0.6), "min_std"),
        (lambda: MPPI(proposals=2).build(LOW, HIGH), "proposal"),
        (lambda: RandomShooting(population=0), "population"),
    ],
)
def test_bad_config_says_which_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("low", "high"),
    [([-1.0], [-1.0]), ([-1.0, 0.0], [1.0]), ([-np.inf], [1.0]), ([[-1.0]], [[1.0]])],
)
def test_bad_bounds_are_rejected(low, high):
    with pytest.raises(ValueError, match="action"):
        CEM().build(np.array(low), np.array(high))


def test_icem_population_schedule():
    config = ICEM(population=100, num_elites=10, iterations=4, population_decay=1.25)
    assert config.population_sizes == (100, 80, 64, 51)
    assert ICEM(population=30, num_elites=10, iterations=3).population_sizes == (30, 24, 20)
    assert config.num_kept == 3


# --------------------------------------------------------------------------- pendulum swing-up


def _pendulum_episode(config, key, steps=200):
    """MPC with the true JAX pendulum from hanging down at rest; ``(return, angles [T])``."""
    from mbrlax.agents.mpc import mpc_rollout
    from mbrlax.envs.pendulum import Pendulum, PendulumState

    env = Pendulum()
    planner = config.build(*env.spec.action_bounds())
    start = PendulumState(jnp.array(jnp.pi), jnp.array(0.0))
    traj = jax.jit(lambda: mpc_rollout(env, planner, start, key, steps))()
    return float(traj.episode_return), np.asarray(traj.states.theta[1:])


@pytest.mark.parametrize(
    "config",
    [
        CEM(horizon=20),
        MPPI(horizon=20, noise_std=1.0),
        ICEM(horizon=15),
        GradientShooting(horizon=20),
        ILQR(horizon=20, iterations=5),
        DDP(horizon=20, iterations=5, regularization_init=1.0),
    ],
    ids=["cem", "mppi", "icem", "gradient_shooting", "ilqr", "ddp"],
)
def test_swings_pendulum_up_from_hanging_down(config):
    # A random policy scores about -1200 and never gets the pendulum up.
    total, theta = _pendulum_episode(config, jax.random.key(0))
    upright = np.abs((theta + np.pi) % (2 * np.pi) - np.pi) < 0.3
    assert upright[:100].any(), "never upright within the first 100 steps"
    assert upright[-50:].all(), "did not stay upright"
    assert total > -400


def test_every_planner_builds_for_an_env_spec_with_one_signature():
    """``build_for(spec, terminal_value)`` is the same call for every planner an agent may be
    given; each starts from its own state type and refuses the other kind of action space."""
    box, discrete = make_jax_env("mbrlax/Pendulum-v0"), make_jax_env("mbrlax/CartPole-v0")
    value = lambda s: jnp.float32(0.0)  # noqa: E731
    for cls in typing.get_args(KnownModelPlanner):
        config = cls(horizon=2) if "horizon" in {f.name for f in dataclasses.fields(cls)} else cls()
        right, wrong = (discrete, box) if config.discrete_actions else (box, discrete)
        planner = config.build_for(right.spec, value)
        pstate = planner.init()
        if planner.sequence is None:  # tree search over discrete actions keeps no sequence
            assert cls is MCTS and not hasattr(pstate, "mean")
        else:
            assert planner.sequence(pstate).shape == (2, 1)
            assert not hasattr(pstate, "elites") or cls is ICEM
        with pytest.raises(ValueError, match="Box actions" if cls is MCTS else "Discrete action"):
            config.build_for(wrong.spec)
