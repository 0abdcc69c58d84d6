"""Moved to :mod:`mbrlax.analysis.video`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.analysis.video")
