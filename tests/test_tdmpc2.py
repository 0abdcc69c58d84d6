"""TD-MPC2: oracles (two-hot, SimNorm, the TD target at a termination, windows that cross an
episode's end), its MPPI is mbrlax's, a tiny JAX-native task learned fast, exact resume."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import resumed_from_oldest_checkpoint

from mbrlax.agents.tdmpc2 import (
    MODEL_SIZES,
    TDMPC2,
    TDMPC2_MPPI,
    ModelDims,
    TDMPC2Config,
    tdmpc2_discount,
)
from mbrlax.data.buffer import Transition
from mbrlax.data.sequences import Sequences
from mbrlax.envs import make_env
from mbrlax.models.distributions import symlog, twohot, twohot_bins, twohot_mean
from mbrlax.models.layers import simnorm
from mbrlax.training.experiment import EXPERIMENTS, run

TINY = TDMPC2Config(
    size=1, latent_dim=16, mlp_dim=32, enc_dim=32, num_q=3, batch_size=16, horizon=3,
    planner=dataclasses.replace(TDMPC2_MPPI, population=32, iterations=2, elites=4, proposals=4),
)  # fmt: skip
SMALL = TDMPC2Config(
    size=1, latent_dim=32, mlp_dim=64, enc_dim=64, batch_size=64,
    planner=dataclasses.replace(TDMPC2_MPPI, population=128, iterations=4, elites=16,
                                proposals=8),
)  # fmt: skip
POINT = make_env("mbrlax/PointReach-v0").spec


def _experiment(env, agent=SMALL, **runner):
    exp = EXPERIMENTS["tdmpc2"].preset(env, seed=0)
    return dataclasses.replace(
        exp, agent=agent, runner=dataclasses.replace(exp.runner, progress=False, **runner)
    )


def test_twohot_round_trip_and_simnorm_groups():
    bins = twohot_bins(101, -10.0, 10.0)
    y = jnp.array([-300.0, -1.0, 0.0, 0.37, 12.5, 2000.0])
    logits = jnp.log(twohot(symlog(y), bins) + 1e-30)
    np.testing.assert_allclose(twohot_mean(logits, bins), y, rtol=1e-4, atol=1e-6)
    x = jax.random.normal(jax.random.key(0), (5, 32)) * 3
    groups = simnorm(x, 8).reshape(5, 4, 8)
    np.testing.assert_allclose(groups.sum(-1), 1.0, rtol=1e-6)
    assert bool(jnp.all(groups > 0))
    agent = TDMPC2(TINY, POINT)
    z = agent.model.encode(agent.init(jax.random.key(0)).model, jnp.ones(POINT.obs_dim))
    np.testing.assert_allclose(z.reshape(-1, 8).sum(-1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="multiple of simnorm_dim"):
        _ = TDMPC2(dataclasses.replace(TINY, latent_dim=12), POINT).model


def test_discount_rule_and_config_errors():
    assert tdmpc2_discount(500) == pytest.approx(0.99)
    assert tdmpc2_discount(1000) == pytest.approx(0.995)
    assert tdmpc2_discount(50) == pytest.approx(0.95)
    assert tdmpc2_discount(None) == 0.99
    assert TDMPC2Config(size=1).dims.num_q == 2 and TDMPC2Config().dims.latent_dim == 512
    # The size sets every width left unset, also when changed on a config that has one (as the
    # CLI's --agent.size does): the widths are never filled into the fields.
    small = dataclasses.replace(TDMPC2Config(), size=1)
    assert small.dims == ModelDims(**MODEL_SIZES[1])
    assert dataclasses.replace(small, mlp_dim=64).dims.mlp_dim == 64
    with pytest.raises(ValueError, match="size must be one of"):
        TDMPC2Config(size=3)
    with pytest.raises(ValueError, match="num_q"):
        TDMPC2Config(num_q=1)
    with pytest.raises(ValueError, match="dreamer"):
        TDMPC2(TINY, make_env("mbrlax/PointReach-v0?pixels=16").spec)


def _constant_qs(qs, value):
    """Every Q's output layer at zero weight and a bias whose two-hot mean is ``value``."""
    bins = twohot_bins(TINY.num_bins, TINY.vmin, TINY.vmax)
    bias = jnp.log(twohot(symlog(jnp.array(value)), bins) + 1e-30)
    last = qs[-1]
    last = dataclasses.replace(
        last, weight=jnp.zeros_like(last.weight), bias=jnp.broadcast_to(bias, last.bias.shape)
    )
    return (*qs[:-1], last)


def _window(terminated):
    """One window [1, H] of rows from a fixed start, with the given terminal flags and the
    second row starting a new episode when the first terminated."""
    h = TINY.horizon
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(1, h, POINT.obs_dim)).astype(np.float32)
    data = Transition(
        obs, rng.uniform(-1, 1, (1, h, POINT.action_dim)).astype(np.float32),
        np.array([[1.0, 2.0, 3.0]], np.float32), rng.normal(size=obs.shape).astype(np.float32),
        np.array([terminated]),
    )  # fmt: skip
    return jax.tree.map(jnp.asarray, data)


def test_td_target_at_a_termination_inside_the_horizon_is_the_hand_computed_one():
    agent = TDMPC2(TINY, POINT)
    state = agent.init(jax.random.key(0))
    v = 4.0  # every target Q predicts this
    target_qs = _constant_qs(state.target_qs, v)
    gamma = agent.discount
    z = jnp.full(TINY.dims.latent_dim, 1.0 / 8)
    for reward, terminated, expected in [(1.0, False, 1.0 + gamma * v), (2.0, True, 2.0)]:
        td = agent.td_targets(target_qs, state.pi, z, jnp.float32(reward),
                              jnp.array(terminated), jax.random.key(1))  # fmt: skip
        assert float(td) == pytest.approx(expected, rel=1e-4)
    # In a window whose middle row terminates, the first row bootstraps, the terminating one
    # does not, and the row after it (a new episode) counts for nothing: changing it changes
    # no loss.
    state = state._replace(target_qs=target_qs)
    data = _window([False, True, False])
    is_first = jnp.array([[True, False, True]])
    losses = jax.jit(lambda d: agent.loss(state, Sequences(d, is_first), jax.random.key(2))[0])
    base = losses(data)
    changed = data._replace(
        obs=data.obs.at[:, 2].add(5.0), reward=data.reward.at[:, 2].set(-9.0),
        next_obs=data.next_obs.at[:, 2].add(3.0), terminated=data.terminated.at[:, 2].set(True),
    )  # fmt: skip
    assert float(losses(changed)) == pytest.approx(float(base), rel=1e-6)
    # Inside the episode it counts (the heads start at uniform two-hot predictions, whose
    # cross-entropy is the same for every target, so the consistency term shows it).
    moved = data._replace(next_obs=data.next_obs.at[:, 1].add(3.0))
    assert float(losses(moved)) != pytest.approx(float(base), rel=1e-6)


def test_acting_is_mbrlax_mppi_through_the_latent_step():
    agent = TDMPC2(TINY, POINT)
    state = agent.init(jax.random.key(0))
    obs = jnp.array([0.3, -0.2, 0.1, 0.0], jnp.float32)[: POINT.obs_dim]
    action, new, info = agent.act_eval(state, obs, jax.random.key(4))
    # The same decision by hand: MPPI built with the agent's horizon, discount, terminal value
    # and proposals, planning through the model's step from the encoded observation.
    z = agent.model.encode(state.model, obs)
    step = lambda s, a, k: agent.model.step(state.model, s, a, k)  # noqa: E731
    planner = agent.planner(state)
    k_plan, _ = jax.random.split(jax.random.key(4))
    unit, pstate, _ = planner.plan(state.planner_state, step, z, k_plan)
    low, high = POINT.action_bounds()
    np.testing.assert_allclose(action, low + (unit + 1) * (high - low) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.planner_state.mean, pstate.mean, atol=1e-6)
    assert info["finite_fraction"] == 1.0
    explored, _, _ = agent.act(state, obs, jax.random.key(4))
    assert np.all(np.abs(np.asarray(explored)) <= np.asarray(high))


def test_tdmpc2_learns_a_tiny_jax_task_far_beyond_random():
    # mbrlax/PointReach-v0: steer a point to a goal in 50 steps; random steering earns about
    # -50, the straight path about -5. Two random episodes, then TD-MPC2 (seen: -82, -83, -83,
    # -60, -24, -24, -24, -24, -24, -16, -10, -9, -8, -8 over episodes 3 to 16).
    exp = _experiment(
        "mbrlax/PointReach-v0", episodes=16, total_steps=0, warmup_steps=100, eval_episodes=0,
    )  # fmt: skip
    rows = run(exp, save=False).rows
    assert all(np.isfinite(r["agent/model_loss"]) for r in rows[2:])
    assert max(r["train_return"] for r in rows[:2]) < -35
    assert np.mean([r["train_return"] for r in rows[-2:]]) > -12


def test_runs_through_the_runner_and_resumes_exactly(tmp_path):
    exp = dataclasses.replace(
        _experiment(
            "mbrlax/PointReach-v0", TINY, episodes=3, total_steps=0, warmup_steps=60,
            checkpoint_every=40, eval_every=3,
        ),
        run_dir=tmp_path / "full",
    )  # fmt: skip
    full = run(exp)
    assert [r["env_steps"] for r in full.rows] == [50, 100, 150]
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    columns = ("env_steps", "train_return", "eval_return", "agent/model_loss", "agent/pi_loss")
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]
