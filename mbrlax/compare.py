"""Moved to :mod:`mbrlax.analysis.compare`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.analysis.compare")
