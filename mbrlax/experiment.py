"""Moved to :mod:`mbrlax.training.experiment`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.training.experiment")
