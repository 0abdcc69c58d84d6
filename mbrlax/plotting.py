"""Moved to :mod:`mbrlax.analysis.plotting`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.analysis.plotting")
