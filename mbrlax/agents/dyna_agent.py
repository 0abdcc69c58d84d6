"""Moved to :mod:`mbrlax.agents.dyna.agent`; this module keeps the old import path
working for one release."""

import warnings

from mbrlax.agents.dyna.agent import DynaAgent, newest  # noqa: F401

warnings.warn(
    "mbrlax.agents.dyna_agent moved to mbrlax.agents.dyna.agent; import from there "
    "(the old path goes in the next release).",
    DeprecationWarning,
    stacklevel=2,
)
