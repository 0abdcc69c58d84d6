"""Moved to :mod:`mbrlax.agents.dyna.presets`; this module keeps the old import path
working for one release."""

import warnings

from mbrlax.agents.dyna.presets import DYNA_PRESETS, DYNA_RUNNER, dyna_preset  # noqa: F401

warnings.warn(
    "mbrlax.agents.dyna_presets moved to mbrlax.agents.dyna.presets; import from there "
    "(the old path goes in the next release).",
    DeprecationWarning,
    stacklevel=2,
)
