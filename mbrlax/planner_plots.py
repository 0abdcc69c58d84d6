"""Moved to :mod:`mbrlax.analysis.planner_plots`; importable here until the next release."""

from mbrlax._moved import alias

alias(__name__, "mbrlax.analysis.planner_plots")
