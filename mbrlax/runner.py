"""The runner: the loop between the outside world (Gymnasium envs, files) and jitted agents.

This is the only place where host and device meet: envs are stepped on the host, the agent's
``act`` and ``update`` are jitted functions of an explicit state, transitions go to the
replay buffer, and every evaluation writes one row to the run directory.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from mbrlax.agents.base import Agent
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.gym_adapter import GymEnv
from mbrlax.envs.spec import EnvSpec
from mbrlax.logger import CURVE_FILE, RunLogger
from mbrlax.plotting import plot_learning_curves

METRIC_COLUMNS = [
    "env_steps",
    "episode",
    "train_return",
    "eval_return",
    "eval_return_std",
    "train_episode_length",
    "model_train_loss",
    "model_val_mse",
    "model_epochs",
    "act_ms",
    "wall_seconds",
]


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    """How the runner drives an agent.

    Attributes:
        episodes: training episodes in total, warm-up episodes included.
        warmup_steps: env steps with uniformly random actions before the agent acts
            (PETS: one random episode to fit a first model).
        refit_every: learn every this many env steps; 0 means once at the end of every episode.
        eval_episodes: evaluation episodes after each training episode (0: no evaluation).
        eval_every: evaluate after every this many training episodes (and always after the last).
        buffer_capacity: replay buffer size; 0 means large enough for the whole run.
        progress: show a progress bar over env steps.
    """

    episodes: int = 10
    warmup_steps: int = 200
    refit_every: int = 0
    eval_episodes: int = 1
    eval_every: int = 1
    buffer_capacity: int = 0
    progress: bool = True

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.warmup_steps < 0 or self.refit_every < 0 or self.eval_episodes < 0:
            raise ValueError("warmup_steps, refit_every and eval_episodes must be >= 0.")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}.")


@dataclasses.dataclass
class RunResult:
    """What a finished run returns: one dict per metrics row, and the run directory."""

    rows: list[dict[str, Any]]
    run_dir: Path | None
    agent_state: Any = None
    buffer: ReplayBuffer | None = None


def _episode_seed(seed: int, stream: int, episode: int) -> int:
    # Distinct, reproducible env seeds for the training (stream 0) and eval (stream 1) envs.
    return int(np.random.SeedSequence([seed, stream, episode]).generate_state(1)[0])


def _random_action(spec: EnvSpec, rng: np.random.Generator) -> np.ndarray:
    if spec.is_continuous:
        low, high = spec.action_bounds()
        return rng.uniform(low, high).astype(np.float32)
    return np.asarray(rng.integers(spec.num_actions), np.int32)


def _example_transition(spec: EnvSpec) -> Transition:
    action = (
        np.zeros(spec.action_shape, np.float32) if spec.is_continuous else np.zeros((), np.int32)
    )
    obs = np.zeros(spec.obs_shape, np.float32)
    return Transition(obs, action, np.float32(0), obs, np.bool_(False))


def run_episode(
    env: GymEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    on_step: Callable[[Transition], None] | None = None,
    max_steps: int | None = None,
) -> tuple[float, int]:
    """Play one episode on the host; returns ``(return, length)``."""
    obs, _ = env.reset(seed=seed)
    total, length = 0.0, 0
    while True:
        action = policy(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        length += 1
        if on_step is not None:
            on_step(Transition(obs, action, np.float32(reward), next_obs, np.bool_(terminated)))
        obs = next_obs
        if terminated or truncated or (max_steps is not None and length >= max_steps):
            return total, length


def train(
    agent: Agent,
    env: GymEnv,
    eval_env: GymEnv | None,
    config: RunnerConfig,
    seed: int,
    run_dir: str | Path | None = None,
    run_config: Any = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``agent`` on ``env`` for ``config.episodes`` episodes; same seed, same numbers.

    Writes ``config.json``, ``metrics.csv``, TensorBoard events and ``learning_curve.png`` to
    ``run_dir`` when one is given (``run_config`` is what ``config.json`` records).
    """
    spec = env.spec
    horizon = spec.max_episode_steps or 1000
    capacity = config.buffer_capacity or config.episodes * horizon
    buffer = ReplayBuffer.create(_example_transition(spec), capacity)
    key = jax.random.key(seed)
    key, init_key = jax.random.split(key)
    state = agent.init(init_key)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    logger = RunLogger(run_dir, run_config, METRIC_COLUMNS) if run_dir is not None else None

    rows: list[dict[str, Any]] = []
    env_steps, last_fit = 0, {}
    act_seconds, act_calls = 0.0, 0
    start = time.perf_counter()
    bar = tqdm(
        total=config.episodes * horizon,
        disable=not config.progress,
        unit="step",
        leave=False,
        # Redrawn often on a terminal; into a log file, a line every 10 s is plenty.
        mininterval=0.1 if sys.stderr.isatty() else 10.0,
    )

    def agent_policy(obs: np.ndarray) -> np.ndarray:
        nonlocal state, key, act_seconds, act_calls
        key, act_key = jax.random.split(key)
        t0 = time.perf_counter()
        action, state, _ = agent.act(state, obs, act_key)
        action = np.asarray(action)  # waits for the device: the timing is the full latency
        act_seconds += time.perf_counter() - t0
        act_calls += 1
        return action

    def learn() -> None:
        nonlocal state, key, last_fit
        key, fit_key = jax.random.split(key)
        state, metrics = agent.update(state, buffer, fit_key)
        last_fit = {k: float(v) for k, v in metrics.items()}

    try:
        for episode in range(config.episodes):
            state = agent.begin_episode(state)

            def train_policy(obs):
                if env_steps < config.warmup_steps:
                    return _random_action(spec, rng)
                return agent_policy(obs)

            def on_step(t: Transition) -> None:
                nonlocal buffer, env_steps
                buffer = buffer.add(t)
                env_steps += 1
                bar.update(1)
                if config.refit_every and env_steps >= config.warmup_steps:
                    if env_steps % config.refit_every == 0:
                        learn()

            train_return, length = run_episode(
                env, train_policy, _episode_seed(seed, 0, episode), on_step
            )
            if not config.refit_every:
                learn()
            row: dict[str, Any] = {
                "env_steps": env_steps,
                "episode": episode + 1,
                "train_return": train_return,
                "train_episode_length": length,
                "model_train_loss": last_fit.get("train_loss", float("nan")),
                "model_val_mse": last_fit.get("val_mse", float("nan")),
                "model_epochs": last_fit.get("epochs", float("nan")),
            }
            is_last = episode + 1 == config.episodes
            if (
                eval_env is not None
                and config.eval_episodes
                and ((episode + 1) % config.eval_every == 0 or is_last)
            ):
                returns = []
                for i in range(config.eval_episodes):
                    state = agent.begin_episode(state)
                    ep_seed = _episode_seed(seed, 1, episode * config.eval_episodes + i)
                    returns.append(run_episode(eval_env, agent_policy, ep_seed)[0])
                row["eval_return"] = float(np.mean(returns))
                row["eval_return_std"] = float(np.std(returns))
            row["act_ms"] = 1000 * act_seconds / max(act_calls, 1)
            row["wall_seconds"] = time.perf_counter() - start
            rows.append(row)
            bar.set_postfix(
                ret=f"{train_return:.1f}",
                eval=f"{row.get('eval_return', float('nan')):.1f}",
            )
            if logger is not None:
                logger.log_row(row)
                plot_learning_curves([logger.run_dir], logger.run_dir / CURVE_FILE)
            if on_row is not None:
                on_row(row)
    finally:
        bar.close()
        if logger is not None:
            logger.close()
    return RunResult(rows, logger.run_dir if logger else None, state, buffer)
