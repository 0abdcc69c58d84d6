"""Defaults that work, per env. ``mbrlax train mpc --env ID`` starts from these."""

from __future__ import annotations

from mbrlax.agents.mpc.agent import MPCConfig
from mbrlax.planners import CEM, MCTS
from mbrlax.training.config import Preset, RunnerConfig

# Known-model MPC: no warm-up and no evaluation episodes (nothing is learned, so every
# training episode already shows the controller); horizons as in
# benchmarks/known_model_planning.py. Gymnasium envs with a JAX twin plan through the twin.
_MPC_RUNNER = RunnerConfig(episodes=3, warmup_steps=0, eval_episodes=0)
# The best of benchmarks/search.py's settings (deeper rollouts and more simulations did worse).
_CARTPOLE_MCTS = MCTS(num_simulations=16, rollout_depth=20, num_rollouts=4)
MPC_PRESETS: dict[str, Preset] = {
    "mbrlax/Pendulum-v0": Preset(MPCConfig(CEM(horizon=20)), _MPC_RUNNER, None),
    "Pendulum-v1": Preset(MPCConfig(CEM(horizon=20)), _MPC_RUNNER, "mbrlax/Pendulum-v0"),
    "mbrlax/CartpoleSwingup-v0": Preset(MPCConfig(CEM(horizon=25)), _MPC_RUNNER, None),
    "mbrlax/AcrobotSwingup-v0": Preset(MPCConfig(CEM(horizon=15)), _MPC_RUNNER, None),
    "mbrlax/BicycleTrack-v0": Preset(MPCConfig(CEM(horizon=20)), _MPC_RUNNER, None),
    # Discrete actions: tree search, leaves valued by averaged random rollouts.
    "mbrlax/CartPole-v0": Preset(MPCConfig(_CARTPOLE_MCTS), _MPC_RUNNER, None),
    "CartPole-v1": Preset(MPCConfig(_CARTPOLE_MCTS), _MPC_RUNNER, "mbrlax/CartPole-v0"),
    "mbrlax/Catch-v0": Preset(
        MPCConfig(MCTS(num_simulations=16, rollout_depth=10, num_rollouts=4)),
        _MPC_RUNNER,
        None,
    ),
}


def mpc_preset(env_id: str) -> Preset:
    """``(agent, runner, model id or None)`` for known-model MPC on ``env_id``."""
    return MPC_PRESETS.get(env_id, Preset(MPCConfig(), _MPC_RUNNER, None))
