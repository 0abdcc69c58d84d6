"""Dreamer: it learns a tiny JAX-native task from 16 x 16 pixels beyond random (fast), a user's
env from vectors with its reward learned (slow), resumes exactly mid-episode; one update trains
the world model, the critic and the actor with the same numbers for the same seed, and acting
stays inside the action bounds."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import user_envs  # noqa: F401  (registers user_envs:PointReach-v0)
from conftest import read_video, resumed_from_oldest_checkpoint

from mbrlax.agents.dreamer import Dreamer, DreamerConfig
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_env
from mbrlax.models.diagnostics import latent_open_loop
from mbrlax.models.rssm import RSSMConfig
from mbrlax.training.experiment import EXPERIMENTS, diagnose, diagnostics_video_path, run

TINY = DreamerConfig(
    model=RSSMConfig(deter=16, stoch=4, classes=4, units=16, layers=1, bins=21),
    units=16, layers=1, horizon=5, train_steps=2, batch_size=4, batch_length=8,
)  # fmt: skip
SMALL = DreamerConfig(
    model=RSSMConfig(
        deter=64, stoch=8, classes=8, units=64, layers=1, learning_rate=1e-3, depth=8
    ),
    units=64, layers=1, train_steps=50, batch_size=16, batch_length=16,
    actor_learning_rate=3e-4, critic_learning_rate=3e-4, entropy=1e-3,
)  # fmt: skip


def _experiment(env, agent=SMALL, **runner):
    exp = EXPERIMENTS["dreamer"].preset(env, seed=0)
    return dataclasses.replace(
        exp, agent=agent, runner=dataclasses.replace(exp.runner, progress=False, **runner)
    )


def test_dreamer_learns_a_tiny_task_from_pixels_and_imagines_its_frames(tmp_path):
    # mbrlax/PointReach-v0 seen through 16 x 16 frames: steer the blue dot to the green one.
    # Random steering earns about -50 and doing nothing -47, the straight path about -5; two
    # random episodes, then three of Dreamer (seen: -28, -25, -24).
    exp = _experiment(
        "mbrlax/PointReach-v0?pixels=16", episodes=5, warmup_steps=100, refit_every=50,
        eval_episodes=0,
    )  # fmt: skip
    result = run(dataclasses.replace(exp, run_dir=tmp_path / "run"))
    rows = result.rows
    assert all(np.isfinite(r["agent/loss"]) for r in rows[2:])
    assert max(r["train_return"] for r in rows[:2]) < -40
    assert np.mean([r["train_return"] for r in rows[-2:]]) > -35
    # Open loop along the last episode's actions, after 5 observed frames: the trained model's
    # imagined frames against the truth, and the untrained model's.
    agent = Dreamer(exp.agent, make_env(exp.env).spec)
    n = int(result.buffer.size)
    last = jax.tree.map(lambda a: a[n - 50 : n], result.buffer.data)
    obs = jnp.concatenate([last.obs[:1], last.next_obs])

    def errors(nets):
        pred = latent_open_loop(
            agent.model, nets, obs, last.action, last.reward, 0, 5, 20, jax.random.key(0)
        )
        return (
            float(jnp.mean(jnp.abs(pred.predicted - pred.truth))),
            float(jnp.mean(jnp.abs(pred.predicted_rewards - pred.true_rewards))),
        )

    trained = errors(result.agent_state.model.nets)
    untrained = errors(agent.init(jax.random.key(0)).model.nets)
    # Seen: frames off by 7.7 of 255 on average (untrained: 132); rewards by 0.27 (untrained:
    # 0.40; the model's rewards are still coarse after 250 steps, so only the frames are held).
    assert trained[0] < 0.25 * untrained[0]
    picture = diagnose(tmp_path / "run", horizon=20)
    assert picture.exists() and picture.stat().st_size > 10_000
    video, _ = read_video(diagnostics_video_path(picture))
    assert video.shape[0] == 20  # one frame per imagined step: real | imagined | difference
    assert video.shape[1] >= 160 and video.shape[2] > 3 * video.shape[1]


@pytest.mark.slow  # about 5 minutes on 2 cores
def test_dreamer_learns_a_users_env_with_a_learned_reward():
    # tests/user_envs.py's PointReach from its vector observations (seen: -50 to -140 at
    # first, -18 after 25 episodes, -7.5 over the last 3 of 35).
    exp = _experiment(
        "user_envs:PointReach-v0", episodes=35, warmup_steps=100, refit_every=50,
        eval_episodes=0,
    )  # fmt: skip
    rows = run(exp, save=False).rows
    assert np.mean([r["train_return"] for r in rows[-3:]]) > -12


def test_runs_through_the_runner_and_resumes_exactly(tmp_path):
    # With DreamerV3's replay critic on, so that its path runs through the runner too.
    agent = dataclasses.replace(TINY, replay_critic=0.3)
    exp = dataclasses.replace(
        _experiment(
            "mbrlax/Pendulum-v0", agent, episodes=3, warmup_steps=200, checkpoint_every=150,
            eval_every=3, refit_every=50,
        ),
        run_dir=tmp_path / "full",
    )  # fmt: skip
    full = run(exp)
    assert [r["env_steps"] for r in full.rows] == [200, 400, 600]
    # Checkpoints at 150, 300, 450, 600, the last 3 kept: resumed from 300, mid-episode 2.
    again = resumed_from_oldest_checkpoint(tmp_path / "full", tmp_path / "killed")
    columns = ("env_steps", "train_return", "eval_return", "agent/loss", "agent/actor_loss",
               "agent/replay_return")  # fmt: skip
    assert all(np.isfinite(r["agent/replay_return"]) for r in full.rows[1:])
    assert [[r.get(c) for c in columns] for r in again] == [
        [r.get(c) for c in columns] for r in full.rows
    ]


@pytest.mark.slow  # about 50 s, nearly all of it compiling the update
def test_an_update_trains_every_part_and_acting_stays_in_bounds():
    spec = make_env("mbrlax/Pendulum-v0").spec
    agent = Dreamer(TINY, spec)
    state = agent.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    rows = [
        Transition(
            rng.normal(size=3).astype(np.float32), rng.uniform(-2, 2, 1).astype(np.float32),
            np.float32(rng.normal()), rng.normal(size=3).astype(np.float32), np.bool_(False),
        )
        for _ in range(64)
    ]  # fmt: skip
    items = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    buffer = ReplayBuffer.create(rows[0], 64).add_batch(items)
    new, metrics = agent.update(state, buffer, jax.random.key(1))
    again, metrics_again = agent.update(state, buffer, jax.random.key(1))
    for name in ("loss", "actor_loss", "critic_loss", "imagined_return"):
        assert np.isfinite(float(metrics[name])), name
        assert float(metrics[name]) == float(metrics_again[name])  # same seed, same numbers
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), (state.actor, state.critic),
                           (new.actor, new.critic))  # fmt: skip
    assert all(jax.tree.leaves(changed)[:1]) and any(jax.tree.leaves(changed))
    state = agent.begin_episode(new)
    for t in range(3):
        action, state, _ = agent.act(state, jnp.ones(3) * t, jax.random.key(t))
        greedy, _, _ = agent.act_eval(state, jnp.ones(3) * t, jax.random.key(t))
        assert action.shape == (1,) and bool(jnp.all(jnp.abs(action) <= 2.0))
        assert bool(jnp.all(jnp.abs(greedy) <= 2.0))
    assert not bool(state.first)
    # A buffer of another capacity retraces the update: nothing cached in the first trace
    # (the two-hot bins) may leak into it.
    bigger = ReplayBuffer.create(rows[0], 128).add_batch(items)
    _, metrics = agent.update(new, bigger, jax.random.key(2))
    assert np.isfinite(float(metrics["loss"]))


def test_exploration_noise_is_added_to_training_actions_only():
    spec = make_env("mbrlax/Pendulum-v0").spec  # actions in [-2, 2]: unit = action / 2
    plain, noisy = Dreamer(TINY, spec), Dreamer(dataclasses.replace(TINY, explore_noise=0.05), spec)
    state = plain.begin_episode(plain.init(jax.random.key(0)))
    obs, keys = jnp.ones(3), jax.random.split(jax.random.key(1), 2000)
    act = lambda agent, f: jax.vmap(lambda k: f(state, obs, k)[0][0])(keys)  # noqa: E731
    base, with_noise = act(plain, plain.act), act(noisy, noisy.act)
    inside = jnp.abs(base) < 1.6  # away from the bounds, where clipping would bend the noise
    diff = (with_noise - base)[inside] / 2.0
    assert int(inside.sum()) > 500
    assert abs(float(jnp.std(diff)) - 0.05) < 0.005 and abs(float(jnp.mean(diff))) < 0.005
    # The actor's own draws are the ones it makes without noise; evaluation has none.
    np.testing.assert_array_equal(act(plain, plain.act_eval), act(noisy, noisy.act_eval))
    assert bool(jnp.all(jnp.abs(with_noise) <= 2.0))


def test_refuses_discrete_actions_and_bad_settings():
    with pytest.raises(ValueError, match="Discrete actions.*muzero"):
        Dreamer(TINY, make_env("CartPole-v1").spec)
    with pytest.raises(ValueError, match="min_std"):
        DreamerConfig(min_std=0.0)
    with pytest.raises(ValueError, match="replay_critic must be >= 0"):
        DreamerConfig(replay_critic=-1.0)
    with pytest.raises(ValueError, match="explore_noise must be >= 0"):
        DreamerConfig(explore_noise=-0.1)
    with pytest.raises(ValueError, match="actor_gradient must be"):
        DreamerConfig(actor_gradient="backprop")
    with pytest.raises(ValueError, match="raise --warmup-steps to at least 16"):
        _experiment("mbrlax/Pendulum-v0", DreamerConfig(), warmup_steps=10).check()
