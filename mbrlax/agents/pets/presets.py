"""Defaults that work, per env. ``mbrlax train pets --env ID`` starts from these."""

from __future__ import annotations

from mbrlax.agents.pets.agent import PETSConfig
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.planners import CEM
from mbrlax.training.config import Preset, RunnerConfig

# Pendulum-v1: the general defaults (sized for 2 CPU cores) swing it up within 10 episodes.
PENDULUM = Preset(PETSConfig(), RunnerConfig(episodes=10, warmup_steps=200, eval_episodes=1))

# The PETS cart-pole swing-up (mbrlax/CartpoleSwingup-v0). Smaller than mbrl-lib's default
# (7 x 4 x 200 units, population 350, 20 particles; see benchmarks/planner_speed.py) so that a
# 15-episode run, evaluation included, stays well under 20 minutes on 2 CPU cores.
CARTPOLE_SWINGUP = Preset(
    PETSConfig(
        model=EnsembleConfig(num_members=5, num_elites=5, hidden_sizes=(128, 128, 128)),
        planner=CEM(horizon=15, population=150, num_elites=15, iterations=4),
        propagation="ts1",
        num_particles=10,
    ),
    RunnerConfig(episodes=15, warmup_steps=200, eval_episodes=1),
)

PRESETS: dict[str, Preset] = {
    "Pendulum-v1": PENDULUM,
    "mbrlax/Pendulum-v0": PENDULUM,
    "mbrlax/CartpoleSwingup-v0": CARTPOLE_SWINGUP,
}


GENERAL = Preset(PETSConfig(), RunnerConfig(episodes=10, warmup_steps=200, eval_episodes=1))
"""Any other env, a user's own included: ``PETSConfig()``'s defaults (about 50 ms per action
on 2 CPU cores), one random warm-up of 200 steps, 10 episodes."""


def pets_preset(env_id: str) -> Preset:
    """The preset for ``env_id``, or :data:`GENERAL` for other envs."""
    return PRESETS.get(env_id, GENERAL)
