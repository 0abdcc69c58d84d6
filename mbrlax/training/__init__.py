"""The training layer: what runs an agent on an env and keeps the run.

- ``config``: the run's settings (``RunnerConfig``) and ``Preset``, the only types agents take
  from this layer;
- ``loop``: the runner (``train``: act, learn, evaluate, log, checkpoint);
- ``scan_loop``: the whole loop as one ``lax.scan`` for JAX-native envs (``--runs``);
- ``experiment``: one generic ``Experiment`` per registered agent, ``train_agent``, ``resume``;
- ``checkpoint`` and ``logger``: what a run writes;
- ``sweep`` and ``bench``: many runs (seeds, envs, settings) and the benchmarks' results files.

Importing this package imports nothing else, so an agent's folder can take the shared types
from ``mbrlax.training.config`` without pulling in the loop.
"""
