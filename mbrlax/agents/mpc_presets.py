"""Moved to :mod:`mbrlax.agents.mpc.presets`; this module keeps the old import path
working for one release."""

import warnings

from mbrlax.agents.mpc.presets import MPC_PRESETS, mpc_preset  # noqa: F401

warnings.warn(
    "mbrlax.agents.mpc_presets moved to mbrlax.agents.mpc.presets; import from there "
    "(the old path goes in the next release).",
    DeprecationWarning,
    stacklevel=2,
)
