"""Defaults per env from the MBPO paper and its reference code (Janner et al., 2019).

``mbrlax train mbpo --env ID`` starts from these. Every env uses the paper's model (7 x 4 x 200
members, 5 elites), a refit and 100,000 branched rollouts every 250 env steps, 5% real data in
each SAC batch and 5000 warm-up steps of random actions; per env:

| env | epoch | G (updates / step) | rollout length k (epochs a -> b: x -> y) | target entropy |
|---|---|---|---|---|
| InvertedPendulum-v5 | 250 | 10 | 1 | -0.05 |
| Hopper-v5 | 1000 | 20 | 20 -> 100: 1 -> 15 | -1 |
| Walker2d-v5 | 1000 | 20 | 1 | -3 |
| HalfCheetah-v5 | 1000 | 40 | 1 | -3 |

Run lengths are those of ``benchmarks/mbpo_vs_sac.py`` (10,000 env steps on InvertedPendulum,
50,000 on the others), far short of the paper's 125-400 epochs, so that a run fits in hours on
2 CPU cores; raise ``--total-steps`` for more. InvertedPendulum's warm-up is 500 steps (two of
its short epochs).
"""

from __future__ import annotations

import dataclasses

from mbrlax.agents.mbpo.agent import MBPOConfig
from mbrlax.agents.mbpo.rollout import RolloutSchedule
from mbrlax.agents.sac.agent import SAC_PAPER, SACConfig
from mbrlax.training.config import Preset, RunnerConfig

_RUNNER = RunnerConfig(
    episodes=100_000,  # the run is ended by total_steps
    total_steps=50_000,
    warmup_steps=5000,
    refit_every=1,
    eval_episodes=1,
    eval_every=1,
    checkpoint_every=10_000,
)
_FIXED_K1 = RolloutSchedule(20, 100, 1, 1)


def _sac(updates_per_step: int, target_entropy: float) -> SACConfig:
    """The policy learner: the SAC paper's step sizes (3e-4), as in MBPO's code."""
    return dataclasses.replace(
        SAC_PAPER, updates_per_step=updates_per_step, target_entropy=target_entropy
    )


MBPO_PRESETS: dict[str, Preset] = {
    "InvertedPendulum-v5": Preset(
        MBPOConfig(
            sac=_sac(updates_per_step=10, target_entropy=-0.05),
            epoch_length=250,
            rollout_schedule=RolloutSchedule(1, 15, 1, 1),
        ),
        dataclasses.replace(_RUNNER, total_steps=10_000, warmup_steps=500, checkpoint_every=5000),
    ),
    "Hopper-v5": Preset(
        MBPOConfig(sac=_sac(updates_per_step=20, target_entropy=-1.0)),
        _RUNNER,
    ),
    "Walker2d-v5": Preset(
        MBPOConfig(sac=_sac(updates_per_step=20, target_entropy=-3.0), rollout_schedule=_FIXED_K1),
        _RUNNER,
    ),
    "HalfCheetah-v5": Preset(
        MBPOConfig(sac=_sac(updates_per_step=40, target_entropy=-3.0), rollout_schedule=_FIXED_K1),
        _RUNNER,
    ),
}


def mbpo_preset(env_id: str) -> Preset:
    """``(agent, runner)`` for MBPO on ``env_id`` (the Hopper settings otherwise)."""
    return MBPO_PRESETS.get(env_id, Preset(MBPOConfig(), _RUNNER))
