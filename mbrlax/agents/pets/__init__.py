"""PETS: probabilistic ensembles with trajectory sampling (Chua et al., 2018)."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.pets.agent import PETS, PETS_PAPER, PETSConfig, PETSState
from mbrlax.agents.pets.presets import pets_preset

ENTRY = AgentEntry(
    name="pets",
    label="PETS",
    config=PETSConfig,
    make=lambda config, c: PETS(config, c.spec, c.task),
    preset=pets_preset,
    default_env="Pendulum-v1",
    title="Train PETS on one env.",
    usage="mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir DIR [--overwrite]",
    env_help=(
        "a Gymnasium id (e.g. Pendulum-v1) or an mbrlax JAX-native id (mbrlax/Pendulum-v0, "
        "mbrlax/CartpoleSwingup-v0)."
    ),
    agent_help="PETS hyper-parameters (defaults come from the env's preset).",
    runner_help="episodes, warm-up, evaluation.",
    saved=lambda state: state.model_params,
    saved_help="the learned dynamics",
)

__all__ = ["ENTRY", "PETS", "PETS_PAPER", "PETSConfig", "PETSState"]
