"""Moved to :mod:`mbrlax.agents.dyna.presets`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.agents.dyna.presets")
