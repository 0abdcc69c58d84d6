"""The training layer: the run's settings (``config``); the loop lives in ``mbrlax.runner``
for now. Importing this package imports nothing else, so an agent's folder can take the
shared types from ``mbrlax.training.config`` without pulling in the loop."""
