"""PILCO: its pieces (episode starts, policies, checks, the swing-up env), imagined against
real returns, improvement, the runner with exact resume, and the swing-up itself (slow)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import resumed_from_oldest_checkpoint

from mbrlax.agents.pilco import PILCO, PILCOConfig
from mbrlax.agents.pilco.agent import episode_starts
from mbrlax.agents.pilco.policies import empty_policy, init_policy
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import get_task, make_jax_env
from mbrlax.envs.pendulum import angle_normalize
from mbrlax.models.gp import GPConfig
from mbrlax.training.experiment import PILCOExperiment, run


def _chain(obs_rows):
    """Transitions along consecutive observations (one episode)."""
    obs = jnp.asarray(obs_rows, jnp.float32)
    n = obs.shape[0] - 1
    return Transition(obs[:-1], jnp.zeros((n, 1)), jnp.zeros(n), obs[1:], jnp.zeros(n, bool))


def test_episode_starts_finds_every_reset_and_ignores_empty_rows():
    a = _chain([[0.0], [1.0], [2.0], [3.0]])  # rows 0-2
    b = _chain([[10.0], [11.0], [12.0]])  # rows 3-4: a reset
    empty = _chain([[5.0], [6.0], [7.0]])  # rows 5-6: past size
    data = jax.tree.map(lambda *x: jnp.concatenate(x), a, b, empty)
    p = episode_starts(data, 5)
    np.testing.assert_allclose(p, [0.5, 0, 0, 0.5, 0, 0, 0])


@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_policies_stay_inside_the_action_box(kind):
    low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])
    obs = jax.random.normal(jax.random.key(0), (50, 3))
    policy = init_policy(kind, jax.random.key(1), obs, jnp.ones(50), low, high, 10)
    field = "weights" if kind == "rbf" else "weight"
    big = eqx.tree_at(lambda p: getattr(p, field), policy, replace_fn=lambda w: w * 1000.0)
    actions = jax.vmap(big)(obs)
    assert actions.shape == (50, 2)
    assert bool(jnp.all((actions >= low) & (actions <= high)))
    assert float(jnp.max(actions[:, 0])) > 1.9 and float(jnp.min(actions[:, 0])) < -1.9
    centre = empty_policy(kind, 3, low, high, 10)(obs[0])  # the placeholder acts mid-box
    np.testing.assert_allclose(centre, [0.0, 0.5])


def test_pilco_refuses_envs_it_cannot_learn():
    cartpole = make_jax_env("mbrlax/CartPole-v0")
    with pytest.raises(ValueError, match="Discrete actions"):
        PILCO(PILCOConfig(), cartpole.spec, get_task("mbrlax/CartPole-v0"), 100)
    pend = make_jax_env("mbrlax/PendulumSwingup-v0").spec
    with pytest.raises(ValueError, match="needs the reward"):
        PILCO(PILCOConfig(), pend, None, 100)
    with pytest.raises(ValueError, match="capacity"):
        PILCO(PILCOConfig(), pend, get_task(pend.env_id), 0)
    with pytest.raises(ValueError, match="policy must be"):
        PILCOConfig(policy="mlp")


def test_swingup_env_starts_hanging_down_with_short_episodes():
    env = make_jax_env("mbrlax/PendulumSwingup-v0")
    assert env.spec.max_episode_steps == 100 and env.spec.env_id == "mbrlax/PendulumSwingup-v0"
    states, obs = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 200))
    assert float(jnp.min(jnp.abs(angle_normalize(states.theta)))) > np.pi - 0.1 - 1e-6
    assert float(jnp.max(jnp.abs(states.theta_dot))) <= 0.1
    np.testing.assert_allclose(obs[:, 0], jnp.cos(states.theta), atol=1e-6)


def test_policy_normaliser_uses_one_scale_for_every_dimension():
    obs = jnp.array([[0.0, -1.0], [0.0, -1.0], [4.0, -1.0], [4.0, -1.0]])  # std 2 and 0
    policy = init_policy("rbf", jax.random.key(0), obs, jnp.ones(4), -jnp.ones(1), jnp.ones(1), 3)
    np.testing.assert_allclose(policy.obs_mean, [2.0, -1.0])
    np.testing.assert_allclose(policy.obs_std, [np.sqrt(2.0), np.sqrt(2.0)], rtol=1e-6)


def _random_buffer(env_id, episodes, seed):
    """``episodes`` whole episodes of uniformly random torques, as the runner stores them."""
    env = make_jax_env(env_id)
    steps = env.spec.max_episode_steps

    @jax.jit
    def episode(key):
        k_reset, k_act = jax.random.split(key)
        state, obs = env.reset(k_reset)
        actions = jax.random.uniform(k_act, (steps, 1), minval=-2.0, maxval=2.0)

        def body(carry, action):
            state, obs = carry
            out = env.step(state, action)
            return (out.state, out.obs), Transition(
                obs, action, out.reward, out.obs, out.terminated
            )

        return jax.lax.scan(body, (state, obs), actions)[1]

    keys = jax.random.split(jax.random.key(seed), episodes)
    items = jax.tree.map(lambda *x: jnp.concatenate(x), *[episode(k) for k in keys])
    n = episodes * steps
    return ReplayBuffer.create(jax.tree.map(lambda x: x[0], items), n).add_batch(items)


def _real_returns(env, policy, keys, horizon):
    """Returns ``[N]`` of ``policy`` on the real env over ``horizon`` steps, and the first
    observations ``[N, d]``."""

    def one(key):
        state, obs = env.reset(key)

        def body(carry, _):
            state, obs = carry
            out = env.step(state, policy(obs))
            return (out.state, out.obs), out.reward

        return jax.lax.scan(body, (state, obs), None, horizon)[1].sum(), obs

    return jax.vmap(one)(keys)


def test_imagined_returns_match_the_real_pendulum_where_the_gp_has_data():
    """Without noise, particles follow the GP's mean; where 400 random transitions cover the
    states, 5 imagined steps earn what the real pendulum pays, start by start."""
    env = make_jax_env("mbrlax/Pendulum-v0")
    buffer = _random_buffer("mbrlax/Pendulum-v0", 2, seed=0)
    config = PILCOConfig(horizon=5, cost_width=0.0, model=GPConfig(num_inducing=0))
    agent = PILCO(config, env.spec, get_task(env.spec.env_id), buffer.capacity)
    params, _ = agent.model.fit(
        agent.init(jax.random.key(0)).model_params, buffer.data, buffer.size, jax.random.key(1)
    )
    policy = init_policy(
        "rbf", jax.random.key(2), buffer.data.obs, jnp.ones(buffer.capacity), *agent._bounds(), 20
    )
    policy = eqx.tree_at(lambda p: p.weights, policy, replace_fn=lambda w: 10.0 * w)  # not ~0
    real, starts = _real_returns(env, policy, jax.random.split(jax.random.key(3), 16), 5)
    imagined = agent.imagined_returns(policy, params, starts, jnp.zeros((5, 16, 3)))
    np.testing.assert_allclose(imagined, real, rtol=0.05, atol=0.5)


def test_improvement_raises_the_real_return():
    """Policy gradients through a GP fitted to 10 s of random torques make the real pendulum,
    hanging down, pick up energy over 1.5 s: the real return of the improved policy beats
    the first (gentle random) policy's."""
    env = make_jax_env("mbrlax/PendulumSwingup-v0")
    buffer = _random_buffer("mbrlax/PendulumSwingup-v0", 2, seed=0)
    config = PILCOConfig(
        horizon=30, num_particles=16, policy_steps=60, model=GPConfig(num_inducing=50)
    )
    agent = PILCO(config, env.spec, get_task(env.spec.env_id), buffer.capacity)
    state = agent.init(jax.random.key(0))
    first = init_policy(
        "rbf", jax.random.key(1), buffer.data.obs, jnp.ones(buffer.capacity), *agent._bounds(),
        config.num_basis,
    )  # fmt: skip
    state, _ = agent.update(state._replace(policy=first, fitted=jnp.array(True)), buffer,
                                  jax.random.key(2))  # fmt: skip
    keys = jax.random.split(jax.random.key(3), 8)
    before, _ = _real_returns(env, first, keys, 30)
    after, _ = _real_returns(env, state.policy, keys, 30)
    assert float(after.mean()) > float(before.mean()) + 20.0


def _experiment(run_dir, agent=None, **runner):
    exp = PILCOExperiment.preset("mbrlax/PendulumSwingup-v0", run_dir=run_dir)
    agent = agent or dataclasses.replace(
        exp.agent, num_basis=5, num_particles=4, policy_steps=5, horizon=10,
        model=GPConfig(num_inducing=10, fit_steps=5),
    )  # fmt: skip
    return dataclasses.replace(
        exp, agent=agent, runner=dataclasses.replace(exp.runner, progress=False, **runner)
    )


def test_runs_through_the_runner_and_resumes_exactly(tmp_path):
    exp = _experiment(tmp_path / "full", episodes=3, checkpoint_every=150)
    full = run(exp)
    assert [r["env_steps"] for r in full.rows] == [100, 200, 300]
    assert all(np.isfinite(r["agent/model_train_loss"]) and np.isfinite(r["agent/expected_return"])
               for r in full.rows)  # fmt: skip
    # Checkpoints at steps 150 and 300: resumed from 150, in the middle of episode 2.
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    columns = (
        "env_steps",
        "train_return",
        "eval_return",
        "agent/expected_return",
        "agent/model_train_loss",
    )
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]


@pytest.mark.slow
def test_swings_the_pendulum_up_from_30_seconds_of_interaction(tmp_path):
    """The preset (benchmarks/pilco.py's run): 6 episodes of 5 s, the first random; the final
    policy holds the pendulum upright from every one of 10 fresh starts."""
    exp = PILCOExperiment.preset("mbrlax/PendulumSwingup-v0", run_dir=tmp_path / "run")
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, progress=False))
    result = run(exp)
    assert result.rows[-1]["env_steps"] == 600  # 30 s at dt 0.05
    env = make_jax_env("mbrlax/PendulumSwingup-v0")
    policy = result.agent_state.policy

    def final_angles(key):
        state, obs = env.reset(key)

        def body(carry, _):
            out = env.step(carry[0], policy(carry[1]))
            return (out.state, out.obs), out.state.theta

        return jax.lax.scan(body, (state, obs), None, 100)[1][-20:]

    theta = jax.vmap(final_angles)(jax.random.split(jax.random.key(7), 10))
    assert float(jnp.max(jnp.abs(angle_normalize(theta)))) < 0.2
