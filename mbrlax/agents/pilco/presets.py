"""Defaults per env. ``mbrlax train pilco --env ID`` starts from these.

The pendulum swing-up (``mbrlax/PendulumSwingup-v0``: Gymnasium's pendulum started hanging
down, 5 s episodes) follows the PILCO paper's protocol: one episode of random torques, then one
episode per policy improvement, 30 s of interaction in all (6 episodes).
"""

from __future__ import annotations

from mbrlax.agents.pilco.agent import PILCOConfig
from mbrlax.runner import RunnerConfig

PENDULUM_SWINGUP = (
    PILCOConfig(num_basis=50, num_particles=32, policy_steps=300, cost_width=1.0),
    RunnerConfig(episodes=6, warmup_steps=100, eval_episodes=1, checkpoint_every=100),
)

PRESETS: dict[str, tuple[PILCOConfig, RunnerConfig]] = {
    "mbrlax/PendulumSwingup-v0": PENDULUM_SWINGUP,
}


def pilco_preset(env_id: str) -> tuple[PILCOConfig, RunnerConfig]:
    """The preset for ``env_id``, or PILCO's general defaults (one random episode of up to
    200 steps, then 10 improvements) for other envs."""
    return PRESETS.get(env_id, (PILCOConfig(), RunnerConfig(episodes=11, warmup_steps=200)))
