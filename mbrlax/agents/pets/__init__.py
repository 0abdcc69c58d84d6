"""PETS: probabilistic ensembles with trajectory sampling (Chua et al., 2018)."""

from mbrlax.agents.pets.agent import PETS, PETS_PAPER, PETSConfig, PETSState

__all__ = ["PETS", "PETS_PAPER", "PETSConfig", "PETSState"]
