"""The module paths that moved in this release still import, with a DeprecationWarning that
names the new path, and give the very same objects."""

from __future__ import annotations

import importlib
import sys

import pytest

MOVED = {
    "mbrlax.runner": "mbrlax.training.loop",
    "mbrlax.compiled": "mbrlax.training.scan_loop",
    "mbrlax.experiment": "mbrlax.training.experiment",
    "mbrlax.checkpoint": "mbrlax.training.checkpoint",
    "mbrlax.logger": "mbrlax.training.logger",
    "mbrlax.sweep": "mbrlax.training.sweep",
    "mbrlax.bench": "mbrlax.training.bench",
    "mbrlax.compare": "mbrlax.analysis.compare",
    "mbrlax.plotting": "mbrlax.analysis.plotting",
    "mbrlax.model_plots": "mbrlax.analysis.model_plots",
    "mbrlax.planner_plots": "mbrlax.analysis.planner_plots",
    "mbrlax.video": "mbrlax.analysis.video",
    "mbrlax.agents.dyna_agent": "mbrlax.agents.dyna.agent",
    "mbrlax.agents.dyna_presets": "mbrlax.agents.dyna.presets",
    "mbrlax.agents.mpc_presets": "mbrlax.agents.mpc.presets",
}


@pytest.mark.parametrize("old", list(MOVED))
def test_an_old_path_imports_the_new_module_with_a_warning(old):
    new = importlib.import_module(MOVED[old])
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=MOVED[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    public = [name for name in vars(module) if not name.startswith("_")]
    assert public and all(getattr(module, name) is getattr(new, name) for name in public)
