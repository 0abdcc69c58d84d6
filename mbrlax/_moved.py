"""Old module paths of this release's layout, kept importable until the next release.

Each old module (``mbrlax/runner.py``, ...) is a few lines that call :func:`alias`: the old
name then *is* the new module (``sys.modules`` entry), so every name, private ones included,
and monkeypatching work as before, and a ``DeprecationWarning`` names the new path.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType


def alias(old: str, new: str) -> ModuleType:
    """Make ``import old`` give module ``new``, warning once that it moved."""
    warnings.warn(
        f"{old} moved to {new}; import from there (the old path goes in the next release).",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module
