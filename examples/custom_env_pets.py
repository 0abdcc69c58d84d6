"""PETS on your own Gymnasium env: first with the reward learned, then with the exact reward.

mbrlax knows nothing about the env below (no preset, no registered task), as with any env you
write yourself. PETS then uses its general defaults and learns the reward beside the
dynamics; ``register_task`` gives it the exact reward instead.

    python examples/custom_env_pets.py            # 6 episodes each, a few minutes on 2 cores
    python examples/custom_env_pets.py --quick    # 2 short episodes each: a smoke run
"""

from __future__ import annotations

import argparse

import gymnasium
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

import mbrlax
from mbrlax.envs import check_env, register_task
from mbrlax.models import EnsembleConfig
from mbrlax.planners import CEM

GOAL = np.array([0.5, -0.5], np.float32)


class GoalReach(gymnasium.Env):
    """A point steered by its velocity to a goal it does not observe: observation ``[x, y]``,
    action ``[vx, vy]`` in ``[-1, 1]``, reward minus the distance to the goal after the step.
    Standing still earns about -35 in 50 steps, going straight to the goal about -4."""

    def __init__(self):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.1, 0.1, 2).astype(np.float32)
        return self.position.copy(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        self.position = (self.position + 0.1 * action).astype(np.float32)
        reward = -float(np.linalg.norm(self.position - GOAL))
        return self.position.copy(), reward, False, False, {}


SMOKE = dict(  # small enough to run in seconds: it shows the calls, it does not learn much
    model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(32, 32), max_epochs=5),
    planner=CEM(horizon=10, population=32, num_elites=4, iterations=2),
    num_particles=2,
)


def goal_reach_reward(obs, action, next_obs):
    """The same reward as a pure JAX function of one transition (for ``register_task``)."""
    return -jnp.linalg.norm(next_obs - GOAL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 episodes each (a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(SMOKE, episodes=2) if args.quick else dict(episodes=6)

    env = TimeLimit(GoalReach(), max_episode_steps=50)  # an episode must end: give a limit
    check_env(env, verbose=True)  # says what mbrlax can and cannot do with the env

    # 1. No task registered: the ensemble learns the reward with the dynamics.
    learned = mbrlax.train(
        "pets", env=env, warmup_steps=50, seed=args.seed, progress=False, **settings
    )
    # 2. The exact reward, registered under the env's name (an unregistered instance is known
    #    by its class name; a registered env by its id).
    register_task("GoalReach", reward=goal_reach_reward)
    exact = mbrlax.train(
        "pets", env=TimeLimit(GoalReach(), 50), warmup_steps=50, seed=args.seed,
        progress=False, **settings,
    )  # fmt: skip

    print(f"{'episode':>7} {'learned reward':>15} {'exact reward':>13}")
    for a, b in zip(learned.rows, exact.rows, strict=True):
        print(f"{a['episode']:7d} {a['eval_return']:15.1f} {b['eval_return']:13.1f}")
    print(f"run directories: {learned.run_dir}, {exact.run_dir}")
    final = [learned.rows[-1]["eval_return"], exact.rows[-1]["eval_return"]]
    assert all(np.isfinite(final)), final
    print(f"ok: final evaluations {final[0]:.1f} (learned reward), {final[1]:.1f} (exact)")


if __name__ == "__main__":
    main()
