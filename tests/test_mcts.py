"""MCTS (on mctx): a bandit whose arm values are known, a chain MDP solved by value iteration,
termination, and the JAX CartPole and Catch envs it searches."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.envs import as_step_fn, make_env, make_jax_env
from mbrlax.planners import MCTS

ARMS = jnp.array([0.2, 0.5, 0.8, 0.4])


def _bandit_step(state, action, key):
    """One pull of arm ``action`` (deterministic reward) ends the episode."""
    del key
    return state, ARMS[action], jnp.array(True)


def _search(cfg: MCTS, step, state, key, num_actions):
    planner = cfg.build(num_actions)
    return jax.jit(lambda s, k: planner.plan(planner.init(), step, s, k))(state, key)


@pytest.mark.parametrize("policy", ["muzero", "gumbel_muzero"])
def test_bandit_search_picks_the_best_arm_and_learns_its_value(policy):
    cfg = MCTS(num_simulations=256, policy=policy, rollout_depth=0)
    action, _, info = _search(cfg, _bandit_step, jnp.zeros(()), jax.random.key(0), 4)
    assert int(action) == 2
    np.testing.assert_allclose(info["q_values"], ARMS, atol=1e-6)  # every arm was tried
    assert int(jnp.sum(info["visit_counts"])) == 256


def test_puct_visits_concentrate_on_the_best_arm_suboptimal_ones_grow_like_sqrt_n():
    """PUCT gives a suboptimal arm about ``c P sqrt(N) / gap`` visits: 4x the simulations
    should about double them (sqrt 4), so the best arm's share tends to 1."""
    visits = {}
    for n in (256, 1024):
        cfg = MCTS(num_simulations=n, rollout_depth=0)
        _, _, info = _search(cfg, _bandit_step, jnp.zeros(()), jax.random.key(1), 4)
        visits[n] = np.asarray(info["visit_counts"])
    shares = [visits[n][2] / n for n in (256, 1024)]
    assert 0.85 < shares[0] < shares[1] and shares[1] > 0.94, shares
    ratio = (1024 - visits[1024][2]) / (256 - visits[256][2])
    assert 1.5 < ratio < 2.7, ratio


def test_gumbel_with_one_simulation_per_arm_samples_the_improved_policy():
    """Gumbel MuZero (Danihelka et al., 2022) acts on ``argmax(g + logits + sigma(q))``:
    without noise that is the best arm after one visit each; with Gumbel noise ``g`` it is a
    draw from ``softmax(sigma(q))``, ``sigma(q) = (c_visit + max N) c_scale q_normalised``
    with mctx's ``c_visit = 50`` and ``c_scale = 0.1``."""
    cfg = MCTS(num_simulations=4, policy="gumbel_muzero", rollout_depth=0, gumbel_scale=0.0)
    action, _, info = _search(cfg, _bandit_step, jnp.zeros(()), jax.random.key(2), 4)
    assert int(action) == 2 and info["visit_counts"].tolist() == [1, 1, 1, 1]
    planner = MCTS(num_simulations=4, policy="gumbel_muzero", rollout_depth=0).build(4)
    actions = jax.jit(
        jax.vmap(lambda k: planner.plan(planner.init(), _bandit_step, jnp.zeros(()), k)[0])
    )(jax.random.split(jax.random.key(2), 2000))
    q = np.asarray(ARMS)
    sigma = (50 + 1) * 0.1 * (q - q.min()) / (q.max() - q.min())
    expected = np.exp(sigma) / np.exp(sigma).sum()
    observed = np.bincount(np.asarray(actions), minlength=4) / 2000
    np.testing.assert_allclose(observed, expected, atol=0.025)


# A chain 0 - 1 - 2 - 3 - 4 - 5: the left end pays 1, the right end 10, both end the episode.
CHAIN_LENGTH, GAMMA = 6, 0.9


def _chain_step(state, action, key):
    del key
    nxt = jnp.clip(state + 2 * action - 1, 0, CHAIN_LENGTH - 1)  # action 0: left, 1: right
    reward = jnp.where(nxt == 0, 1.0, jnp.where(nxt == CHAIN_LENGTH - 1, 10.0, 0.0))
    return nxt, reward, (nxt == 0) | (nxt == CHAIN_LENGTH - 1)


def _chain_value_iteration() -> np.ndarray:
    """``Q [S, 2]`` of the chain by value iteration (terminal ends are worth 0 after)."""
    v = np.zeros(CHAIN_LENGTH)
    for _ in range(200):
        q = np.zeros((CHAIN_LENGTH, 2))
        for s in range(1, CHAIN_LENGTH - 1):
            for a in range(2):
                n = s + 2 * a - 1
                r = 1.0 if n == 0 else 10.0 if n == CHAIN_LENGTH - 1 else 0.0
                terminal = n in (0, CHAIN_LENGTH - 1)
                q[s, a] = r + (0.0 if terminal else GAMMA * v[n])
        v = q.max(axis=1)
    return q


@pytest.mark.parametrize(
    "policy", ["muzero", pytest.param("gumbel_muzero", marks=pytest.mark.slow)]
)
def test_search_with_the_true_model_acts_as_value_iteration_says(policy):
    """MCTS backs up means, so with a finite budget it is right with high probability, not
    always: over 20 searches from each state it must act as value iteration says at least
    3 times in 4 from every state, 9 in 10 overall. A myopic search (left from state 1, where
    the near end pays at once) would score 0 there."""
    q = _chain_value_iteration()
    best = q[1 : CHAIN_LENGTH - 1].argmax(axis=1)
    assert best.tolist() == [1, 1, 1, 1]  # far right pays, although left is nearer from 1
    cfg = MCTS(num_simulations=64, discount=GAMMA, policy=policy, rollout_depth=10,
               num_rollouts=4)  # fmt: skip
    planner = cfg.build(2)
    search = jax.vmap(lambda s, k: planner.plan(planner.init(), _chain_step, s, k)[0])
    states = jnp.arange(1, CHAIN_LENGTH - 1)
    keys = jax.random.split(jax.random.key(0), (20, states.shape[0]))
    actions = np.asarray(jax.jit(jax.vmap(search, in_axes=(None, 0)))(states, keys))
    right = actions == best
    assert right.mean(axis=0).min() >= 0.75 and right.mean() >= 0.9, right.mean(axis=0)


def test_terminated_nodes_earn_nothing_further():
    """Action 0 ends the episode with reward 1 but the model would pay 5 per step after it
    (a learned model past a termination); action 1 pays 2 and ends too. Only the first
    reward may count: the search must prefer action 1."""

    def step(state, action, key):
        del key
        after_end = state > 0
        reward = jnp.where(after_end, 5.0, jnp.where(action == 0, 1.0, 2.0))
        return state + 1, reward, jnp.array(True)

    for policy in ("muzero", "gumbel_muzero"):
        cfg = MCTS(num_simulations=64, policy=policy, rollout_depth=5)
        action, _, info = _search(cfg, step, jnp.int32(0), jax.random.key(3), 2)
        assert int(action) == 1
        np.testing.assert_allclose(info["q_values"], [1.0, 2.0], atol=1e-6)


def test_value_fn_replaces_rollouts_and_prior_fn_steers_puct():
    def step(state, action, key):
        del key
        return state * 0 + action, jnp.float32(0.0), jnp.array(False)

    # No rewards: only the value function of the state reached tells the actions apart.
    planner = MCTS(num_simulations=32).build(3, value_fn=lambda s: jnp.where(s == 1, 1.0, 0.0))
    action, _, _ = planner.plan(planner.init(), step, jnp.int32(0), jax.random.key(4))
    assert int(action) == 1
    # With a flat value, a sharp prior decides where the visits go.
    prior = jnp.array([0.0, 0.0, 5.0])
    planner = MCTS(num_simulations=32, rollout_depth=0).build(3, prior_fn=lambda s: prior)
    action, _, info = planner.plan(planner.init(), step, jnp.int32(0), jax.random.key(5))
    assert int(action) == 2 and info["visit_counts"][2] > 24


def test_bad_configs_say_what_to_do():
    with pytest.raises(ValueError, match="num_simulations"):
        MCTS(num_simulations=0)
    with pytest.raises(ValueError, match="policy must be"):
        MCTS(policy="uct")
    with pytest.raises(ValueError, match="discount"):
        MCTS(discount=0.0)
    with pytest.raises(ValueError, match="sampling planner"):
        MCTS().build(1)


def test_jax_cartpole_matches_gymnasium_cartpole_v1():
    env = make_jax_env("mbrlax/CartPole-v0")
    reference = gym.make("CartPole-v1")
    obs, _ = reference.reset(seed=3)
    state = env.state_from_obs(obs)
    step = jax.jit(env.step)
    rng = np.random.default_rng(0)
    steps = 0
    for _ in range(500):
        steps += 1
        action = int(rng.integers(2))
        obs, reward, terminated, _, _ = reference.step(action)
        out = step(state, jnp.int32(action))
        np.testing.assert_allclose(out.obs, obs, atol=1e-5)
        assert float(out.reward) == reward and bool(out.terminated) == terminated
        state = out.state
        if terminated:
            break
    assert steps > 5  # the pole fell only after a while, so the comparison covered some steps


def test_catch_rewards_the_paddle_under_the_ball():
    env = make_jax_env("mbrlax/Catch-v0")
    state, obs = env.reset(jax.random.key(0))
    assert obs.shape == (50,) and float(obs.sum()) == 2.0
    # Follow the ball: always catch it in rows - 1 steps.
    for t in range(env.rows - 1):
        action = jnp.sign(state.ball_col - state.paddle_col) + 1
        out = env.step(state, action)
        state = out.state
        assert bool(out.terminated) == (t == env.rows - 2)
    assert float(out.reward) == 1.0
    # state_from_obs inverts observe at every decision state
    state, obs = env.reset(jax.random.key(7))
    out = env.step(state, jnp.int32(0))
    recovered = env.state_from_obs(out.obs)
    assert [int(x) for x in recovered] == [int(x) for x in out.state]
    # The paddle never leaves the board; a miss costs 1.
    state = env.reset(jax.random.key(1))[0]._replace(ball_col=jnp.int32(4))
    for _ in range(env.rows - 1):
        out = env.step(state, jnp.int32(0))
        state = out.state
    assert int(state.paddle_col) == 0 and float(out.reward) == -1.0
    assert make_env("mbrlax/Catch-v0").spec.num_actions == 3


@pytest.mark.slow  # the runner test below catches 4 balls through the same planner
def test_mcts_with_the_true_model_catches_every_ball():
    env = make_jax_env("mbrlax/Catch-v0")
    planner = MCTS(num_simulations=16, rollout_depth=10, num_rollouts=4).build(3)
    step = as_step_fn(env)

    def episode(key):
        state, _ = env.reset(key)

        def body(carry, k):
            s, total = carry
            action, _, _ = planner.plan(planner.init(), step, s, k)
            out = env.step(s, action)
            return (out.state, total + out.reward), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, env.rows - 1))
        return total

    totals = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), 10))
    np.testing.assert_array_equal(totals, np.ones(10))


# ----------------------------------------------------------- MCTS as the runner's MPC agent


def _mcts_experiment(env, run_dir, planner, episodes=1, model=None, checkpoint_every=1000):
    from mbrlax.agents.mpc import MPCConfig
    from mbrlax.training.experiment import MPCExperiment
    from mbrlax.training.loop import RunnerConfig

    return MPCExperiment(
        env=env, model=model, seed=0, run_dir=run_dir, agent=MPCConfig(planner),
        runner=RunnerConfig(episodes=episodes, warmup_steps=0, eval_episodes=0,
                            checkpoint_every=checkpoint_every, keep_checkpoints=100,
                            progress=False),
    )  # fmt: skip


def test_known_model_search_catches_through_the_runner_and_resumes_exactly(tmp_path):
    import shutil

    from mbrlax.training.experiment import resume, run

    planner = MCTS(num_simulations=16, rollout_depth=10, num_rollouts=4)
    full = run(_mcts_experiment("mbrlax/Catch-v0", tmp_path / "full", planner, 4, None, 5))
    assert [r["train_return"] for r in full.rows] == [1.0] * 4
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "full", killed)
    for p in sorted((killed / "checkpoints").iterdir())[2:]:
        p.unlink()  # killed after step 15, mid-episode 2
    columns = ("env_steps", "episode", "train_return")
    assert [[r[c] for c in columns] for r in resume(killed).rows] == [
        [r[c] for c in columns] for r in full.rows
    ]


def test_gymnasium_cartpole_searches_through_its_jax_twin(tmp_path):
    from mbrlax.training.experiment import run

    planner = MCTS(num_simulations=16, rollout_depth=20, num_rollouts=4)
    exp = _mcts_experiment("CartPole-v1", tmp_path / "r", planner, model="mbrlax/CartPole-v0")
    exp = dataclasses.replace(exp, runner=dataclasses.replace(exp.runner, total_steps=150))
    # A random policy falls after about 20 steps.
    assert run(exp).rows[0]["train_return"] >= 150


def test_mpc_agent_pairs_search_with_discrete_actions_only():
    from mbrlax.agents.mpc import KnownModelMPC, MPCConfig
    from mbrlax.planners import CEM

    cartpole = make_jax_env("mbrlax/CartPole-v0")
    with pytest.raises(ValueError, match="agent.planner:mcts"):
        KnownModelMPC(MPCConfig(CEM()), cartpole.spec, cartpole)
    pendulum = make_jax_env("mbrlax/Pendulum-v0")
    with pytest.raises(ValueError, match="MCTS searches over discrete actions"):
        KnownModelMPC(MPCConfig(MCTS()), pendulum.spec, pendulum)
