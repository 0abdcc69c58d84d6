"""The run's settings, and an agent's preset of them: the types an agent shares with the
training loop (an agent's folder imports these, never the loop itself)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from mbrlax.envs.spec import EnvSpec


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    """How the runner drives an agent.

    Attributes:
        episodes: training episodes in total, warm-up episodes included.
        total_steps: end the run with the episode in which the env steps reach this many
            (0: only ``episodes`` ends it); for envs whose episodes differ in length.
        warmup_steps: env steps with uniformly random actions before the agent acts
            (PETS: one random episode to fit a first model).
        refit_every: learn every this many env steps; 0 means once at the end of every episode.
        eval_episodes: evaluation episodes after each training episode (0: no evaluation).
        eval_every: evaluate after every this many training episodes (and always after the last).
        buffer_capacity: replay buffer size; 0 means large enough for the whole run.
        checkpoint_every: save a checkpoint every this many env steps (0: only at the end).
            Gymnasium envs whose state cannot be saved checkpoint at the end of the episode in
            which the interval falls; JAX-native envs checkpoint mid-episode.
        keep_checkpoints: how many checkpoints to keep in ``<run_dir>/checkpoints``.
        video_every: record the first episode of every this many evaluations (and of the last)
            as ``<run_dir>/videos/eval-<env_steps>.mp4``; 0: no videos. Needs a recording env
            (``mbrlax.analysis.video.make_recording_env``), which the experiment makes.
        progress: show a progress bar over env steps.
    """

    episodes: int = 10
    total_steps: int = 0
    warmup_steps: int = 200
    refit_every: int = 0
    eval_episodes: int = 1
    eval_every: int = 1
    buffer_capacity: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    video_every: int = 0
    progress: bool = True

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        for name in (
            "total_steps",
            "warmup_steps",
            "refit_every",
            "eval_episodes",
            "buffer_capacity",
            "video_every",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if self.checkpoint_every < 0:
            raise ValueError(
                f"checkpoint_every must be >= 0 env steps (0: only at the end), "
                f"got {self.checkpoint_every}."
            )
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}.")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}.")


def max_env_steps(config: RunnerConfig, spec: EnvSpec) -> int:
    """The most env steps a run of ``config`` takes on the env of ``spec`` (episodes of
    ``spec.max_episode_steps``, or 1000 for an env without a time limit)."""
    horizon = spec.max_episode_steps or 1000
    steps = config.episodes * horizon
    if config.total_steps:
        steps = min(steps, config.total_steps + horizon - 1)
    return steps


def check_warmup(config: RunnerConfig, spec: EnvSpec) -> None:
    """Raise ``ValueError`` if the warm-up covers the whole run, so the agent would never act.

    Only an env with a time limit bounds a run's length; without one, episodes may be longer
    than :func:`max_env_steps` assumes, so such a run is not refused.
    """
    if spec.max_episode_steps is None:
        return
    steps = max_env_steps(config, spec)
    if config.warmup_steps < steps:
        return
    horizon = spec.max_episode_steps
    if config.total_steps and steps < config.episodes * horizon:
        target = config.total_steps
        length = (
            f"it ends with the episode that reaches --total-steps {target}, within {steps} env "
            f"steps (episodes of {spec.env_id} last at most {horizon})"
        )
    else:
        target = steps
        length = f"its {config.episodes} episodes of {spec.env_id} take at most {steps} env steps"
    raise ValueError(
        f"--warmup-steps {config.warmup_steps} covers the whole run: {length}, so every action "
        f"would be random and the agent would never act. Lower --warmup-steps below {target}, "
        "or raise --total-steps or --episodes."
    )


def buffer_capacity(config: RunnerConfig, spec: EnvSpec) -> int:
    """Rows of the replay buffer the runner makes: ``config.buffer_capacity``, or room for
    the whole run. An agent whose state is sized by the data (PILCO's GP) takes it from here."""
    return config.buffer_capacity or max_env_steps(config, spec)


class Preset(NamedTuple):
    """An agent's defaults for one env: its config, the run's settings, and (for agents that
    plan through a known model) the JAX-native env that stands for the env's dynamics."""

    agent: Any
    runner: RunnerConfig
    model: str | None = None
