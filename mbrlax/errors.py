"""mbrlax's exceptions, in one module with no heavy imports (the CLI catches them without
loading JAX). Each is also importable from the module that raises it. (The CLI's usage error,
``mbrlax.cli.CLIError``, is an exit with status 2, not an exception to catch.)"""

from __future__ import annotations


class EnvError(ValueError):
    """An env that mbrlax cannot use as given; the message says what is wrong and what to do."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the model's loss became NaN); the message says what to do.

    Nothing from the failing step is saved: the run directory keeps its last good checkpoint.
    """


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, or made by a different run."""


class RunDirError(ValueError):
    """A run directory that cannot be used (it holds a run already, or none)."""


class SweepError(ValueError):
    """A sweep that cannot be run as asked: the message says what is wrong and how to fix it."""


class BenchmarkError(RuntimeError):
    """A benchmark that cannot finish as asked: the message says why and what to do."""
