"""Defaults per env. ``mbrlax train pilco --env ID`` starts from these.

The pendulum swing-up (``mbrlax/PendulumSwingup-v0``: Gymnasium's pendulum started hanging
down, 5 s episodes) follows the PILCO paper's protocol: one episode of random torques, then one
episode per policy improvement, 30 s of interaction in all (6 episodes); the agent's defaults
(sparse GP with 100 inducing inputs, 32 fixed particles, 300 Adam steps at 0.05 keeping the
best policy, PILCO's saturating cost of width 1) are tuned on it; ``benchmarks/pilco.py``
measures it.
"""

from __future__ import annotations

from mbrlax.agents.pilco.agent import PILCOConfig
from mbrlax.training.config import Preset, RunnerConfig

PENDULUM_SWINGUP = Preset(
    PILCOConfig(),
    RunnerConfig(episodes=6, warmup_steps=100, eval_episodes=1, checkpoint_every=100),
)

PRESETS: dict[str, Preset] = {
    "mbrlax/PendulumSwingup-v0": PENDULUM_SWINGUP,
}


def pilco_preset(env_id: str) -> Preset:
    """The preset for ``env_id``, or PILCO's general defaults (one random episode of up to
    200 steps, then 10 improvements) for other envs."""
    return PRESETS.get(env_id, Preset(PILCOConfig(), RunnerConfig(episodes=11, warmup_steps=200)))
