"""Moved to :mod:`mbrlax.training.scan_loop`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.training.scan_loop")
