"""SampledMCTS (Sampled MuZero on mctx, Box actions): bounds, a continuous bandit whose optimum
is known, termination against its oracle, determinism and traces, config errors, the warm
start, and MPC on the JAX pendulum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import make_jax_env
from mbrlax.envs.pendulum import PendulumState
from mbrlax.planners import GaussianState, SampledMCTS

A_STAR = 0.7  # the bandit's best arm, in [-1, 2]
LOW, HIGH = np.array([-1.0]), np.array([2.0])


def _bandit_step(state, action, key):
    """One pull of the arm ``action [1]`` pays ``-(a - a*)^2`` and ends the episode."""
    del key
    return state, -((action[0] - A_STAR) ** 2), jnp.array(True)


def _searches(cfg: SampledMCTS, step, state, keys, low=LOW, high=HIGH):
    """One search per key from ``planner.init()``: ``(actions [N, A], pstates, infos)``.

    A loop over one compiled search, not a ``vmap``: a batched mctx search (while loops under
    ``vmap``) takes twice as long to compile as the searches take to run here."""
    planner = cfg.build(low, high)
    search = jax.jit(lambda k: planner.plan(planner.init(), step, state, k))
    return jax.tree.map(lambda *xs: np.stack(xs), *[search(k) for k in keys])


def test_bandit_search_picks_the_best_candidate_and_lands_near_the_optimum():
    """Every root candidate is tried (32 considered, 64 simulations) and its Q is its exact
    reward, so the action is the best candidate; with 31 samples that is near ``a*``."""
    cfg = SampledMCTS(horizon=2, num_simulations=64, num_candidates=32,
                      max_num_considered_actions=32)  # fmt: skip
    keys = jax.random.split(jax.random.key(0), 20)
    actions, _, info = _searches(cfg, _bandit_step, jnp.zeros(()), keys)
    candidates = np.asarray(info["candidates"][..., 0])  # [20, K]
    assert ((candidates >= LOW) & (candidates <= HIGH)).all()
    assert (np.asarray(info["visit_counts"]) > 0).all()
    np.testing.assert_allclose(info["q_values"], -((candidates - A_STAR) ** 2), atol=1e-6)
    best = candidates[np.arange(20), np.argmin(np.abs(candidates - A_STAR), axis=1)]
    np.testing.assert_array_equal(actions[:, 0], best)
    errors = np.abs(np.asarray(actions[:, 0]) - A_STAR)
    assert np.median(errors) < 0.1 and errors.max() <= 0.2 + 1e-6, errors
    np.testing.assert_allclose(info["chosen_q"], -(errors**2), atol=1e-6)


def test_puct_finds_a_better_arm_than_the_warm_start_and_select_q_takes_the_best_tried():
    cfg = SampledMCTS(horizon=2, num_simulations=64, policy="muzero", select="q")
    keys = jax.random.split(jax.random.key(1), 10)
    actions, _, info = _searches(cfg, _bandit_step, jnp.zeros(()), keys)
    visits, q = np.asarray(info["visit_counts"]), np.asarray(info["q_values"])
    candidates = np.asarray(info["candidates"][..., 0])
    best_tried = np.where(visits > 0, q, -np.inf).argmax(axis=1)
    np.testing.assert_array_equal(actions[:, 0], candidates[np.arange(10), best_tried])
    warm_start = -((0.5 - A_STAR) ** 2)  # candidate 0, the mid-point
    assert (q[np.arange(10), best_tried] >= warm_start - 1e-6).all()
    assert np.median(np.abs(actions[:, 0] - A_STAR)) < 0.2


def _box_step(state, action, key):
    """Pays for pushing every coordinate outward, so good actions sit on the bounds."""
    del key
    return state + 1, jnp.sum(action**2), jnp.array(False)


def test_actions_plans_and_candidates_stay_in_asymmetric_2d_bounds():
    low, high = np.array([-3.0, 0.5]), np.array([-1.0, 4.0])
    # A proposal far outside the box with a huge spread must still give in-box candidates,
    # and so must uniform candidates and noisy rollouts.
    proposal = lambda s: (jnp.array([10.0, -10.0]), jnp.array([50.0, 50.0]))  # noqa: E731
    cfg = SampledMCTS(horizon=4, num_simulations=16, num_candidates=6, uniform_fraction=0.5,
                      rollout_std=2.0)  # fmt: skip
    planner = cfg.build(low, high, proposal_fn=proposal)
    plan = jax.jit(lambda p, s, k: planner.plan(p, _box_step, s, k))
    pstate, state = planner.init(), jnp.int32(0)
    for k in jax.random.split(jax.random.key(2), 3):
        action, pstate, info = plan(pstate, state, k)
        assert action.shape == (2,) and action.dtype == jnp.float32
        for x in (action, pstate.mean, info["candidates"]):
            assert bool(jnp.all((x >= low) & (x <= high))), x
        state = state + 1
    # Pushing outward pays: the search did better than the box's centre.
    assert float(jnp.sum(action**2)) > float(np.sum(((low + high) / 2) ** 2))


def _terminating_step(state, action, key):
    """``state``: 1 once the episode ended. Pushing ``a > 0.5`` pays 2 and ends it; anything
    else pays 1 and lives. Past the end the model would pay 5 per step (a learned model on
    states it never saw): the search must not count that."""
    del key
    ended = state > 0
    ends = action[0] > 0.5
    reward = jnp.where(ended, 5.0, jnp.where(ends, 2.0, 1.0))
    return jnp.where(ended | ends, 1, 0).astype(jnp.int32), reward, ended | ends


def test_terminated_branches_earn_nothing_further_oracle():
    """Horizon 5, no discount. Oracle: ending now is worth exactly 2; living first is worth
    at most 6 (live 4 steps, end on the last) and, as MCTS averages the returns of sequences
    it tried, at least 3 (live, then end). Were termination ignored, ending now would look
    worth 2 + 4 * 5 = 22 and win."""
    cfg = SampledMCTS(horizon=5, num_simulations=64, num_candidates=16)
    keys = jax.random.split(jax.random.key(3), 8)
    actions, _, info = _searches(cfg, _terminating_step, jnp.int32(0), keys, np.array([-1.0]),
                                 np.array([1.0]))  # fmt: skip
    candidates = np.asarray(info["candidates"][..., 0])
    visited = np.asarray(info["visit_counts"]) > 0
    q = np.asarray(info["q_values"])
    ends = candidates > 0.5
    assert (visited & ends).sum() >= 8  # the terminating branch was searched
    np.testing.assert_array_equal(q[visited & ends], 2.0)
    live_q = q[visited & ~ends]
    assert live_q.min() >= 3.0 - 1e-5 and live_q.max() <= 6.0 + 1e-5, live_q
    assert (np.asarray(actions[:, 0]) <= 0.5).all()
    assert (np.asarray(info["expected_return"]) <= 6.0 + 1e-5).all()


def test_same_key_same_action_and_one_trace():
    traces = []

    def step(state, action, key):
        traces.append(None)  # runs only while tracing
        return _bandit_step(state, action, key)

    planner = SampledMCTS(horizon=3, num_simulations=8, num_candidates=4).build(LOW, HIGH)
    plan = jax.jit(lambda p, s, k: planner.plan(p, step, s, k))
    a1, p1, _ = plan(planner.init(), jnp.zeros(()), jax.random.key(4))
    n = len(traces)
    a2, p2, _ = plan(planner.init(), jnp.zeros(()), jax.random.key(4))
    a3, _, info3 = plan(p1, jnp.ones(()), jax.random.key(5))  # other values, same shapes
    assert len(traces) == n  # compiled once
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(p1.mean, p2.mean)
    _, _, info4 = plan(p1, jnp.ones(()), jax.random.key(6))
    assert not np.array_equal(info3["candidates"], info4["candidates"])  # keys are used


def test_bad_configs_and_bounds_say_what_is_wrong():
    with pytest.raises(ValueError, match="num_candidates must be an int >= 2"):
        SampledMCTS(num_candidates=1)
    with pytest.raises(ValueError, match="num_simulations"):
        SampledMCTS(num_simulations=0)
    with pytest.raises(ValueError, match="proposal_std must be > 0"):
        SampledMCTS(proposal_std=0.0)
    with pytest.raises(ValueError, match="uniform_fraction must be in"):
        SampledMCTS(uniform_fraction=1.5)
    with pytest.raises(ValueError, match=r"max_depth \(9\) must be <= horizon \(5\)"):
        SampledMCTS(horizon=5, max_depth=9)
    with pytest.raises(ValueError, match="policy must be"):
        SampledMCTS(policy="uct")
    with pytest.raises(ValueError, match="select must be"):
        SampledMCTS(select="value")
    with pytest.raises(ValueError, match="rollout_depth"):
        SampledMCTS(rollout_depth=-1)
    with pytest.raises(ValueError, match="discount"):
        SampledMCTS(discount=0.0)
    with pytest.raises(ValueError, match="bounds must be finite"):
        SampledMCTS().build(np.array([-np.inf]), np.array([1.0]))
    with pytest.raises(ValueError, match="action_low < action_high"):
        SampledMCTS().build(np.array([1.0]), np.array([1.0]))


def test_warm_start_follows_the_tree_then_the_shifted_old_plan():
    """Rewards are 0, so the tree's choices are arbitrary: what is checked is the bookkeeping.
    Candidate 0 of the root is the old plan's first action; the new plan is the chosen
    candidate, the most visited path below it, then the old plan, shifted by one step."""
    horizon = 6
    cfg = SampledMCTS(horizon=horizon, num_simulations=3, num_candidates=4)
    planner = cfg.build(LOW, HIGH)
    old = jnp.linspace(-0.9, 1.9, horizon)[:, None]
    pstate = planner.init()._replace(mean=old)
    step = lambda s, a, k: (s, jnp.float32(0.0), jnp.array(False))  # noqa: E731
    action, new, info = jax.jit(lambda p, k: planner.plan(p, step, jnp.zeros(()), k))(
        pstate, jax.random.key(7)
    )
    depth = int(info["path_depth"])
    assert 1 <= depth <= 3
    np.testing.assert_allclose(info["candidates"][0], old[0])
    np.testing.assert_array_equal(action, info["candidates"][int(info["chosen_index"])])
    # new.mean[d] is the plan's step d + 1: the tree's steps 1 .. depth - 1, then the old plan.
    np.testing.assert_allclose(new.mean[depth - 1 : horizon - 1], old[depth:])
    np.testing.assert_allclose(new.mean[-1], (LOW + HIGH) / 2)
    np.testing.assert_allclose(new.std, pstate.std)
    assert type(new) is GaussianState  # the plan and its proposal spread: no elites kept


def test_leaves_use_the_terminal_value_and_the_proposal_fn():
    """No rewards: only ``V(s)`` of the state reached tells the actions apart, and a proposal
    centred on the best action (with the warm start at the other end) finds it."""

    def step(state, action, key):
        del key
        return action[0], jnp.float32(0.0), jnp.array(False)

    value = lambda s: -((s - A_STAR) ** 2)  # noqa: E731
    proposal = lambda s: (jnp.array([A_STAR]), jnp.array([1e-3]))  # noqa: E731
    planner = SampledMCTS(horizon=2, num_simulations=16, num_candidates=4,
                          uniform_fraction=0.0).build(LOW, HIGH, value, proposal)  # fmt: skip
    search = jax.jit(lambda k: planner.plan(planner.init(), step, jnp.float32(0.0), k))
    action, _, info = search(jax.random.key(8))
    np.testing.assert_allclose(action, [A_STAR], atol=5e-3)
    np.testing.assert_allclose(info["chosen_q"], 0.0, atol=1e-4)


def test_mpc_agent_pairs_sampled_search_with_box_actions_only():
    from mbrlax.agents.mpc import KnownModelMPC, MPCConfig
    from mbrlax.planners import MCTS

    pendulum = make_jax_env("mbrlax/Pendulum-v0")
    agent = KnownModelMPC(MPCConfig(SampledMCTS(num_simulations=4)), pendulum.spec, pendulum)
    assert agent.planner.init().mean.shape == (20, 1)
    cartpole = make_jax_env("mbrlax/CartPole-v0")
    with pytest.raises(ValueError, match="SampledMCTS plans continuous.*agent.planner:mcts"):
        KnownModelMPC(MPCConfig(SampledMCTS()), cartpole.spec, cartpole)
    with pytest.raises(ValueError, match="MCTS searches over discrete.*agent.planner:sampled"):
        KnownModelMPC(MPCConfig(MCTS()), pendulum.spec, pendulum)


@pytest.mark.parametrize("token", ["agent.planner:sampled-mcts", "agent.planner:sampled_mcts"])
def test_cli_chooses_sampled_search(token):
    import tyro

    from mbrlax.training.experiment import MPCExperiment

    args = [token, "--agent.planner.num-candidates", "4"]
    exp = tyro.cli(MPCExperiment, args=args)
    assert exp.agent.planner == SampledMCTS(num_candidates=4)


@pytest.mark.slow  # ~12 s, most of it compiling the 200-step episode
def test_mpc_with_sampled_search_swings_the_pendulum_up():
    from mbrlax.agents.mpc import mpc_rollout

    env = make_jax_env("mbrlax/Pendulum-v0")
    planner = SampledMCTS(num_simulations=32).build(*env.spec.action_bounds())
    start = PendulumState(jnp.array(jnp.pi), jnp.array(0.0))  # hanging down, at rest
    traj = jax.jit(lambda k: mpc_rollout(env, planner, start, k, 200))(jax.random.key(0))
    theta = np.asarray(traj.states.theta[-50:])
    upright = np.abs((theta + np.pi) % (2 * np.pi) - np.pi)
    assert upright.max() < 0.3, upright.max()  # held up for the last 50 steps
    # From rest CEM(horizon=20) swings up for about -375 (-370 here); hanging costs ~2000.
    assert float(traj.episode_return) > -400, float(traj.episode_return)
