"""Moved to :mod:`mbrlax.agents.mpc.presets`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.agents.mpc.presets")
