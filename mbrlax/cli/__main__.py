"""``python -m mbrlax.cli ...``: the ``mbrlax`` command (sweeps start their trials this way)."""

from mbrlax.cli import main

main()
