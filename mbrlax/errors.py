"""mbrlax's exceptions, in one module with no heavy imports (the CLI catches them without
loading JAX). Each is also importable from the module that raises it."""

from __future__ import annotations


class EnvError(ValueError):
    """An env that mbrlax cannot use as given; the message says what is wrong and what to do."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the model's loss became NaN); the message says what to do.

    Nothing from the failing step is saved: the run directory keeps its last good checkpoint.
    """


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, or made by a different run."""
