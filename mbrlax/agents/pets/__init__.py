"""PETS: probabilistic ensembles with trajectory sampling (Chua et al., 2018)."""

from mbrlax.agents.pets.agent import PETS, PETSConfig, PETSState

__all__ = ["PETS", "PETSConfig", "PETSState"]
