"""The MPC loop: what it records, termination, and planning with a mismatched model."""

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs.base import as_step_fn
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.planners import CEM, RandomShooting


def test_records_what_was_done_and_planned():
    env = Pendulum()
    planner = CEM(horizon=10, population=64, num_elites=8, iterations=2).build(
        *env.spec.action_bounds()
    )
    start = PendulumState(jnp.array(1.0), jnp.array(0.0))
    traj = jax.jit(lambda k: mpc_rollout(env, planner, start, k, 12))(jax.random.key(0))
    assert traj.actions.shape == (12, 1) and traj.plans.shape == (12, 10, 1)
    assert float(traj.states.theta[0]) == 1.0 and traj.states.theta.shape == (13,)
    np.testing.assert_array_equal(traj.plans[:, 0], traj.actions)
    # The realised states are the env's own steps from the recorded actions.
    state = start
    for t in range(12):
        out = env.step(state, traj.actions[t])
        # Eager vs compiled: equal up to float32 rounding.
        np.testing.assert_allclose(float(out.reward), float(traj.rewards[t]), rtol=1e-5)
        state = out.state
    np.testing.assert_allclose(float(traj.episode_return), float(traj.rewards.sum()), rtol=1e-6)
    assert bool(traj.alive.all())


def test_rewards_after_termination_do_not_count():
    env = Pendulum()

    class Terminating(Pendulum):
        """Pendulum that reports termination from its 4th step on."""

        def step(self, state, action):
            out = Pendulum.step(self, state, action)
            return out._replace(terminated=out.state.theta_dot > -1e9)  # always True

    term = Terminating()
    planner = RandomShooting(horizon=5, population=16).build(*env.spec.action_bounds())
    start = PendulumState(jnp.array(2.0), jnp.array(0.0))
    traj = mpc_rollout(term, planner, start, jax.random.key(1), 6)
    assert traj.alive.tolist() == [True, False, False, False, False, False]
    assert float(traj.episode_return) == float(traj.rewards[0])


def test_a_wrong_model_plans_worse_than_the_exact_one():
    env = Pendulum()
    wrong = as_step_fn(Pendulum(m=3.0, g=4.0))  # a badly identified pendulum
    planner = CEM(horizon=20).build(*env.spec.action_bounds())
    start = PendulumState(jnp.array(jnp.pi), jnp.array(0.0))
    run = jax.jit(
        lambda model: mpc_rollout(env, planner, start, jax.random.key(0), 150, model),
        static_argnums=0,
    )
    exact = float(
        jax.jit(lambda: mpc_rollout(env, planner, start, jax.random.key(0), 150))().episode_return
    )
    assert float(run(wrong).episode_return) < exact - 50


# ----------------------------------------------------------------- KnownModelMPC in the runner


def _mpc_experiment(env, run_dir, episodes=1, model=None, checkpoint_every=1000):
    from mbrlax.agents.mpc import MPCConfig
    from mbrlax.training.experiment import MPCExperiment
    from mbrlax.training.loop import RunnerConfig

    return MPCExperiment(
        env=env,
        model=model,
        seed=0,
        run_dir=run_dir,
        agent=MPCConfig(CEM(horizon=20, population=100, num_elites=10, iterations=3)),
        runner=RunnerConfig(
            episodes=episodes,
            warmup_steps=0,
            eval_episodes=0,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=100,
            progress=False,
        ),
    )


def test_known_model_agent_swings_up_gymnasium_pendulum_through_its_jax_twin(tmp_path):
    from mbrlax.training.experiment import evaluate, run

    # A random policy scores about -1200; the learned-model PETS needs ~8 episodes for -200.
    result = run(_mpc_experiment("Pendulum-v1", tmp_path / "r", model="mbrlax/Pendulum-v0"))
    assert result.rows[0]["train_return"] > -400
    assert not (tmp_path / "r" / "final_model.eqx").exists()  # nothing was learned
    assert min(evaluate(tmp_path / "r", episodes=2)) > -400
    # No evaluation episodes: plots and comparisons show the training episodes.
    from mbrlax.analysis.compare import load_run

    run_ = load_run(tmp_path / "r")
    assert not run_.evaluated
    np.testing.assert_array_equal(run_.evals[1], [result.rows[0]["train_return"]])


def test_known_model_agent_resumes_exactly_from_a_mid_episode_checkpoint(tmp_path):
    import shutil

    from mbrlax.training.checkpoint import CheckpointManager
    from mbrlax.training.experiment import resume, run

    full = run(_mpc_experiment("mbrlax/Pendulum-v0", tmp_path / "full", 2, checkpoint_every=90))
    names = [p.name for p in CheckpointManager(tmp_path / "full").paths()]
    assert [int(n[5:15]) for n in names] == [90, 180, 270, 360, 400]
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "full", killed)
    for p in (killed / "checkpoints").iterdir():
        if p.name > names[2]:  # killed after the checkpoint at step 270, mid-episode 2
            p.unlink()
    resumed = resume(killed)
    columns = ("env_steps", "episode", "train_return")
    assert [[r[c] for c in columns] for r in resumed.rows] == [
        [r[c] for c in columns] for r in full.rows
    ]


def test_a_terminal_value_steers_a_one_step_plan():
    from mbrlax.agents.mpc import KnownModelMPC, MPCConfig, observed_value

    env = Pendulum()
    obs = jnp.array([1.0, 0.0, 0.0])  # upright at rest: one step of reward is flat in torque
    actions = {}
    for sign in (1.0, -1.0):
        value = observed_value(env, lambda o, s=sign: 100.0 * s * o[2])  # worth spinning one way
        agent = KnownModelMPC(MPCConfig(CEM(horizon=1)), env.spec, env, terminal_value=value)
        actions[sign] = float(agent.act(agent.init(None), obs, jax.random.key(0))[0][0])
    assert actions[1.0] > 1.9 and actions[-1.0] < -1.9


def test_sac_value_is_its_critic_at_the_mean_action():
    from mbrlax.agents.sac import SACConfig, SACLearner, sac_value_fn
    from mbrlax.agents.sac.networks import mean_action, twin_q

    learner = SACLearner(SACConfig(hidden_sizes=(8,)), 3, (-2.0,), (2.0,))
    state = learner.init(jax.random.key(0))
    obs = jnp.array([0.6, -0.8, 1.5])  # cos, sin of one angle
    action = mean_action(state.actor, obs, learner._log_std_bounds)
    expected = jnp.min(twin_q(state.critic, obs, action))
    np.testing.assert_allclose(sac_value_fn(learner, state)(obs), expected, rtol=1e-6)
    # As a terminal value on the JAX pendulum's states (whose observation is Pendulum-v1's).
    from mbrlax.agents.mpc import observed_value

    value = observed_value(Pendulum(), sac_value_fn(learner, state))
    theta = jnp.arctan2(obs[1], obs[0])
    np.testing.assert_allclose(value(PendulumState(theta, obs[2])), expected, rtol=1e-5)
