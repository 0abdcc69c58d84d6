"""Defaults that work, per env. ``mbrlax train sac --env ID`` starts from these.

``SACConfig()`` everywhere (the paper's settings with CleanRL's step size 1e-3 for the
Q-networks and alpha; ``SAC_PAPER`` has the paper's 3e-4); the runner's warm-up is SAC's "learning
starts" (uniformly random actions): 1000 steps on the small envs, 5000 on the MuJoCo
locomotion envs (as in the common reference implementations). Run lengths are those of
``benchmarks/mbpo_vs_sac.py``, so that a run takes minutes to an hour on 2 CPU cores rather
than the paper's 1-3 million steps; raise ``--total-steps`` for more.
"""

from __future__ import annotations

from mbrlax.agents.sac.agent import SACConfig
from mbrlax.training.config import Preset, RunnerConfig

_LOCOMOTION = RunnerConfig(
    episodes=100_000,  # the run is ended by total_steps
    total_steps=100_000,
    warmup_steps=5000,
    refit_every=1,
    eval_episodes=1,
    eval_every=1,
    checkpoint_every=10_000,
)

SAC_PRESETS: dict[str, Preset] = {
    "Pendulum-v1": Preset(
        SACConfig(),
        RunnerConfig(
            episodes=75,
            warmup_steps=1000,
            refit_every=1,
            eval_episodes=3,
            eval_every=5,
            checkpoint_every=5000,
        ),
    ),
    "InvertedPendulum-v5": Preset(
        SACConfig(),
        RunnerConfig(
            episodes=100_000,
            total_steps=20_000,
            warmup_steps=1000,
            refit_every=1,
            eval_episodes=1,
            eval_every=1,
            checkpoint_every=5000,
        ),
    ),
    "Hopper-v5": Preset(SACConfig(), _LOCOMOTION),
    "Walker2d-v5": Preset(SACConfig(), _LOCOMOTION),
    "HalfCheetah-v5": Preset(
        SACConfig(),
        RunnerConfig(
            episodes=50,
            warmup_steps=5000,
            refit_every=1,
            eval_episodes=1,
            eval_every=1,
            checkpoint_every=10_000,
        ),
    ),
}


def sac_preset(env_id: str) -> Preset:
    """``(agent, runner)`` for SAC on ``env_id`` (``SACConfig()``, 100 episodes otherwise)."""
    default = RunnerConfig(
        episodes=100, warmup_steps=5000, refit_every=1, eval_episodes=1, checkpoint_every=10_000
    )
    return SAC_PRESETS.get(env_id, Preset(SACConfig(), default))
