"""mbrlax: model-based reinforcement learning in JAX.

    import mbrlax
    result = mbrlax.train("pets", env="Pendulum-v1", episodes=10)
    result = mbrlax.train("pets", env=MyEnv(), episodes=10, num_particles=10)  # your own env
    mbrlax.resume(result.run_dir)                # continue a stopped run
    mbrlax.evaluate(result.run_dir, episodes=5)  # returns of the final agent

The same runs as ``mbrlax train`` on the command line. Importing mbrlax imports nothing
else; each function imports what it needs when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import gymnasium

    from mbrlax.training.loop import RunResult

__version__ = "0.1.0"


def train(agent: str, /, env: str | gymnasium.Env, **kwargs: Any) -> RunResult:
    """Train ``agent`` (``"pets"``, ``"sac"``, ...) on ``env`` (an id or an env instance);
    keyword arguments override any setting by name, the agent's whole config included
    (``agent=SACConfig(...)``). See :func:`mbrlax.training.experiment.train_agent`."""
    from mbrlax.training.experiment import train_agent

    return train_agent(agent, env, **kwargs)


def resume(run_dir: str | Path, **kwargs: Any) -> RunResult:
    """Continue the run in ``run_dir`` (``env=...`` for a run trained on an env instance).
    See :func:`mbrlax.training.experiment.resume`."""
    from mbrlax.training.experiment import resume as resume_run

    return resume_run(run_dir, **kwargs)


def evaluate(run_dir: str | Path, episodes: int = 5, **kwargs: Any) -> list[float]:
    """Returns of ``episodes`` episodes of the final agent of ``run_dir``. See
    :func:`mbrlax.training.experiment.evaluate`."""
    from mbrlax.training.experiment import evaluate as evaluate_run

    return evaluate_run(run_dir, episodes, **kwargs)


__all__ = ["__version__", "evaluate", "resume", "train"]
