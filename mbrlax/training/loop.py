"""The runner: the loop between the outside world (Gymnasium envs, files) and jitted agents.

This is the only place where host and device meet: envs are stepped on the host, the agent's
``act`` and ``update`` are jitted functions of an explicit state, transitions go to the
replay buffer, and every evaluation writes one row to the run directory.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from mbrlax.agents.base import Agent, eval_act
from mbrlax.analysis.plotting import plot_learning_curves
from mbrlax.analysis.video import record_episode
from mbrlax.data.buffer import ReplayBuffer, Transition, add_step
from mbrlax.envs.base import EnvError
from mbrlax.envs.gym_adapter import GymEnv
from mbrlax.envs.spec import EnvSpec
from mbrlax.errors import TrainingError
from mbrlax.training.checkpoint import CheckpointManager, load_checkpoint
from mbrlax.training.config import (  # noqa: F401  (re-exported: their old home)
    RunnerConfig,
    buffer_capacity,
    check_warmup,
    max_env_steps,
)
from mbrlax.training.logger import CURVE_FILE, RunLogger

RUN_COLUMNS = [
    "env_steps",
    "episode",
    "train_return",
    "eval_return",
    "eval_return_std",
    "train_episode_length",
    "act_ms",
    "wall_seconds",
]
"""The columns of every run's ``metrics.csv``; the metrics an agent's ``update`` returns
follow them, each as ``agent/<its name>`` (added when first reported)."""

METRIC_COLUMNS = RUN_COLUMNS  # the name before agents' metrics got their own columns


EVAL_STEP_LIMIT = 10_000
"""Evaluation episodes of an env without a time limit end after this many steps: a greedy
policy can loop forever (CliffWalking-v1 has no limit and walls to walk into)."""

PLOT_EVERY_SECONDS = 5.0
"""The shortest time between two redraws of a run's ``learning_curve.png``."""


def check_finite_step(env_id: str, obs: Any, reward: float, where: str) -> None:
    """Raise :class:`EnvError` if an env returned NaN or inf, before anything stores it."""
    bad = [
        what
        for what, value in (("observation", obs), ("reward", reward))
        if not np.all(np.isfinite(np.asarray(value, dtype=np.float64)))
    ]
    if bad:
        raise EnvError(
            f"{env_id} returned a non-finite {' and '.join(bad)} at {where} (obs={obs!r}, "
            f"reward={reward!r}). mbrlax stopped before storing it, so the replay buffer and "
            "checkpoints hold only finite data. Fix the env (an unstable simulation, a division "
            "by zero?) or wrap it to repair or end such steps."
        )


@dataclasses.dataclass
class RunResult:
    """What a finished run returns: one dict per metrics row, and the run directory."""

    rows: list[dict[str, Any]]
    run_dir: Path | None
    agent_state: Any = None
    buffer: ReplayBuffer | None = None


def episode_seed(seed: int, stream: int, episode: int) -> int:
    """The env seed of an episode: distinct and reproducible for the training (stream 0) and
    evaluation (stream 1) envs of the run with ``seed``."""
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
    obs = np.zeros(spec.obs_shape, spec.obs_dtype)
    return Transition(obs, action, np.float32(0), obs, np.bool_(False))


def run_episode(
    env: GymEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    on_step: Callable[[Transition], None] | None = None,
    max_steps: int | None = None,
) -> tuple[float, int]:
    """Play one episode on the host; returns ``(return, length)``. It ends at termination,
    truncation or after ``max_steps`` steps."""
    obs, _ = env.reset(seed=seed)
    total, length = 0.0, 0
    while True:
        action = policy(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        check_finite_step(env.spec.env_id, next_obs, reward, f"step {length + 1} of an episode")
        total += float(reward)
        length += 1
        if on_step is not None:
            on_step(Transition(obs, action, np.float32(reward), next_obs, np.bool_(terminated)))
        obs = next_obs
        if terminated or truncated or (max_steps is not None and length >= max_steps):
            return total, length


@dataclasses.dataclass
class _Progress:
    """Where a run stands on the host; all of it goes into every checkpoint.

    ``obs`` is ``None`` between episodes; mid-episode (JAX-native envs only) it is the current
    observation and ``ep_return`` / ``ep_length`` the episode so far.
    """

    episode: int = 0  # training episodes finished (= metrics rows written)
    env_steps: int = 0
    last_checkpoint: int = 0  # env_steps at the last checkpoint
    obs: np.ndarray | None = None
    ep_return: float = 0.0
    ep_length: int = 0
    act_seconds: float = 0.0
    act_calls: int = 0
    elapsed: float = 0.0  # wall seconds of training before this process started
    last_fit: dict[str, float] = dataclasses.field(default_factory=dict)
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_meta(self) -> dict[str, Any]:
        meta = dataclasses.asdict(self)
        meta["obs"] = None if self.obs is None else np.asarray(self.obs).tolist()
        return meta

    @classmethod
    def from_meta(cls, meta: dict[str, Any], spec: EnvSpec) -> _Progress:
        fields = {f.name for f in dataclasses.fields(cls)}
        progress = cls(**{k: v for k, v in meta.items() if k in fields})
        if progress.obs is not None:
            progress.obs = np.asarray(progress.obs, spec.obs_dtype)
        return progress


def train(
    agent: Agent,
    env: GymEnv,
    eval_env: GymEnv | None,
    config: RunnerConfig,
    seed: int,
    run_dir: str | Path | None = None,
    run_config: Any = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
    video_env: GymEnv | None = None,
) -> RunResult:
    """Train ``agent`` on ``env`` for ``config.episodes`` episodes; same seed, same numbers.

    Writes ``config.json``, ``metrics.csv``, TensorBoard events, ``learning_curve.png`` and
    checkpoints to ``run_dir`` when one is given (``run_config`` is what ``config.json``
    records). With ``resume``, ``run_dir`` must hold a run: it continues from its newest usable
    checkpoint (from the start if there is none yet) and, on CPU, writes the same metrics rows
    the uninterrupted run would have (``wall_seconds`` and ``act_ms`` aside). ``video_env``
    (the env made with ``render_mode="rgb_array"``) records evaluations per
    ``config.video_every``; a recording that fails is noted in ``run.log`` and the evaluation
    episode played without it.
    """
    if resume and run_dir is None:
        raise ValueError("resume=True needs the run_dir of the run to continue.")
    check_warmup(config, env.spec)  # before anything is made or written
    loop = _Loop.start(agent, env, eval_env, video_env, config, seed, run_dir, run_config, resume)
    try:
        while not loop.finished():
            loop.play_training_episode()
            row = loop.finish_episode()
            if on_row is not None:
                on_row(row)
            if loop.checkpoint_due() or loop.finished():
                loop.checkpoint()
    finally:
        loop.close()
    return RunResult(loop.progress.rows, loop.run_dir, loop.state, loop.buffer)


@dataclasses.dataclass
class _Loop:
    """One run in progress on the host: the agent's state, the buffer, the keys and counters,
    and the files it writes; :func:`train` drives it an episode at a time."""

    agent: Agent
    env: GymEnv
    eval_env: GymEnv | None
    video_env: GymEnv | None
    config: RunnerConfig
    seed: int
    state: Any
    buffer: ReplayBuffer
    key: jax.Array
    rng: np.random.Generator
    progress: _Progress
    logger: RunLogger | None
    checkpoints: CheckpointManager | None
    bar: Any
    start_time: float
    last_plot: float = -np.inf

    @classmethod
    def start(
        cls,
        agent: Agent,
        env: GymEnv,
        eval_env: GymEnv | None,
        video_env: GymEnv | None,
        config: RunnerConfig,
        seed: int,
        run_dir: str | Path | None,
        run_config: Any,
        resume: bool,
    ) -> _Loop:
        """A fresh run, or (``resume``) the run in ``run_dir`` from its newest usable
        checkpoint; opens its files."""
        spec = env.spec
        buffer = ReplayBuffer.create(_example_transition(spec), buffer_capacity(config, spec))
        key = jax.random.key(seed)
        key, init_key = jax.random.split(key)
        state = agent.init(init_key)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        progress = _Progress()
        checkpoints = logger = None
        if run_dir is not None:
            checkpoints = CheckpointManager(run_dir, keep=config.keep_checkpoints)
            if resume:
                logger = RunLogger.reopen(run_dir, RUN_COLUMNS)
                restored = _restore(checkpoints, logger, state, buffer, key, env)
                if restored is not None:
                    state, buffer, key, rng, progress = restored
                logger.truncate(len(progress.rows), progress.env_steps)
                logger.record_code(progress.env_steps)
            else:
                logger = RunLogger(run_dir, run_config, RUN_COLUMNS)
                logger.record_code(0)
                if not env.can_snapshot and config.checkpoint_every:
                    logger.note(
                        f"{spec.env_id}'s state cannot be saved: checkpoints are taken at the "
                        "end of the episode in which each interval of "
                        f"{config.checkpoint_every} env steps falls."
                    )
        bar = tqdm(
            total=max_env_steps(config, spec),
            initial=progress.env_steps,
            disable=not config.progress,
            unit="step",
            leave=False,
            # Redrawn often on a terminal; into a log file, a line every 10 s is plenty.
            mininterval=0.1 if sys.stderr.isatty() else 10.0,
        )
        start_time = time.perf_counter() - progress.elapsed
        return cls(
            agent, env, eval_env, video_env, config, seed, state, buffer, key, rng, progress,
            logger, checkpoints, bar, start_time,
        )  # fmt: skip

    @property
    def run_dir(self) -> Path | None:
        return self.logger.run_dir if self.logger is not None else None

    def finished(self) -> bool:
        steps_done = bool(self.config.total_steps)
        steps_done = steps_done and self.progress.env_steps >= self.config.total_steps
        return self.progress.episode >= self.config.episodes or steps_done

    def checkpoint_due(self) -> bool:
        every = self.config.checkpoint_every
        return bool(every) and self.progress.env_steps - self.progress.last_checkpoint >= every

    def act(self, act: Callable[..., Any], obs: np.ndarray) -> np.ndarray:
        """The agent's action for ``obs`` (``act`` or its evaluation ``act_eval``), timed."""
        self.key, act_key = jax.random.split(self.key)
        t0 = time.perf_counter()
        action, self.state, _ = act(self.state, obs, act_key)
        action = np.asarray(action)  # waits for the device: the timing is the full latency
        self.progress.act_seconds += time.perf_counter() - t0
        self.progress.act_calls += 1
        return action

    def learn(self) -> None:
        """One ``agent.update`` on the buffer; stops the run if a loss is not finite."""
        self.key, fit_key = jax.random.split(self.key)
        new_state, metrics = self.agent.update(self.state, self.buffer, fit_key)
        fit = {k: float(v) for k, v in metrics.items()}
        bad = {k: v for k, v in fit.items() if not np.isfinite(v)}
        if bad:
            paths = self.checkpoints.paths() if self.checkpoints else []
            saved = paths[-1].name if paths else None
            kept = f"the last good checkpoint, {saved}, is kept" if saved else "no checkpoint yet"
            raise TrainingError(
                f"the agent's update at env step {self.progress.env_steps} gave "
                f"{', '.join(f'{k}={v}' for k, v in bad.items())}; the run stopped ({kept}). "
                "Start a new run with a smaller learning rate (e.g. "
                "--agent.model.learning-rate), or check the data for outliers."
            )
        self.state = new_state
        # Merged: an agent may report some metrics only on some updates (MBPO's model fit).
        self.progress.last_fit = {**self.progress.last_fit, **fit}

    def checkpoint(self) -> None:
        """Save everything the run needs to continue exactly from here (if it has a run_dir)."""
        if self.checkpoints is None:
            return
        progress = self.progress
        progress.elapsed = time.perf_counter() - self.start_time
        trees = {"agent": self.state, "buffer": self.buffer, "key": self.key}
        # A JAX-native env is saved at episode boundaries too: a run may change its world
        # (the blocking maze's walls move at a global step), which the next episode carries on.
        env_saved = self.env.can_snapshot and progress.env_steps > 0
        if env_saved:
            trees["env"] = self.env.snapshot()
        # Recorded before the progress is saved: a resumed run counts its next interval from
        # this checkpoint (else resuming from ckpt-300 with an interval of 100 saved ckpt-301).
        progress.last_checkpoint = progress.env_steps
        meta = {
            "progress": progress.to_meta(),
            "numpy_rng": self.rng.bit_generator.state,
            "env_saved": env_saved,
        }
        self.checkpoints.save(progress.env_steps, trees, meta)

    def play_training_episode(self) -> None:
        """Play (the rest of) one training episode: random actions during the warm-up, the
        agent's after it, every transition stored, learning every ``refit_every`` steps (or
        at the end of the episode), mid-episode checkpoints where the env can be saved."""
        config, progress, spec = self.config, self.progress, self.env.spec
        episode = progress.episode
        if progress.obs is None:  # a new episode (else: resumed mid-episode)
            self.state = self.agent.begin_episode(self.state)
            progress.obs, _ = self.env.reset(seed=episode_seed(self.seed, 0, episode))
            progress.ep_return, progress.ep_length = 0.0, 0
        while True:
            obs = progress.obs
            if progress.env_steps < config.warmup_steps:
                action = _random_action(spec, self.rng)
            else:
                action = self.act(self.agent.act, obs)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            check_finite_step(
                spec.env_id,
                next_obs,
                reward,
                f"env step {progress.env_steps + 1} (training episode {episode + 1})",
            )
            transition = Transition(obs, action, np.float32(reward), next_obs, np.bool_(terminated))
            self.buffer = add_step(self.buffer, transition)  # in place: O(1), not a copy
            progress.env_steps += 1
            progress.ep_return += float(reward)
            progress.ep_length += 1
            progress.obs = next_obs
            self.bar.update(1)
            if (
                config.refit_every
                and progress.env_steps >= config.warmup_steps
                and progress.env_steps % config.refit_every == 0
            ):
                self.learn()
            if terminated or truncated:
                break
            if self.env.can_snapshot and self.checkpoint_due():
                self.checkpoint()
        progress.obs = None
        if not config.refit_every:
            self.learn()

    def finish_episode(self) -> dict[str, Any]:
        """The finished training episode's metrics row, evaluation included when it is due;
        written to the run directory and returned."""
        progress, config = self.progress, self.config
        episode = progress.episode
        row = _episode_row(progress, episode)
        progress.episode += 1
        is_last = self.finished()
        due = (episode + 1) % config.eval_every == 0 or is_last
        if self.eval_env is not None and config.eval_episodes and due:
            returns = self.evaluate(episode, is_last)
            row["eval_return"] = float(np.mean(returns))
            row["eval_return_std"] = float(np.std(returns))
        row["act_ms"] = 1000 * progress.act_seconds / max(progress.act_calls, 1)
        row["wall_seconds"] = time.perf_counter() - self.start_time
        progress.rows.append(row)
        self.bar.set_postfix(
            ret=f"{progress.ep_return:.1f}", eval=f"{row.get('eval_return', float('nan')):.1f}"
        )
        if self.logger is not None:
            self.logger.log_row(row)
            # Redrawn after every episode, but at most every few seconds (short episodes, e.g.
            # tabular ones, would otherwise spend their time plotting); always at the end.
            if is_last or time.perf_counter() - self.last_plot >= PLOT_EVERY_SECONDS:
                plot_learning_curves([self.run_dir], self.run_dir / CURVE_FILE)
                self.last_plot = time.perf_counter()
        return row

    def evaluate(self, episode: int, is_last: bool) -> list[float]:
        """Returns of the evaluation episodes after training episode ``episode`` (0-based),
        the first one recorded as a video when one is due."""
        config = self.config
        policy = functools.partial(self.act, eval_act(self.agent))
        evaluation = (episode + 1) // config.eval_every
        record = self.video_env is not None and self.logger is not None and config.video_every
        record = record and (evaluation % config.video_every == 0 or is_last)
        limit = self.env.spec.max_episode_steps or EVAL_STEP_LIMIT
        returns = []
        for i in range(config.eval_episodes):
            self.state = self.agent.begin_episode(self.state)
            ep_seed = episode_seed(self.seed, 1, episode * config.eval_episodes + i)
            if record and i == 0:
                path = self.run_dir / "videos" / f"eval-{self.progress.env_steps:08d}.mp4"
                ret = _record(self.video_env, policy, ep_seed, path, self.logger)
                if ret is not None:
                    returns.append(ret)
                    continue
                self.state = self.agent.begin_episode(self.state)
            returns.append(run_episode(self.eval_env, policy, ep_seed, max_steps=limit)[0])
        return returns

    def close(self) -> None:
        self.bar.close()
        if self.logger is not None:
            self.logger.close()


def _record(
    env: GymEnv,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    path: Path,
    logger: RunLogger,
) -> float | None:
    """One evaluation episode recorded to ``path``; its return, or None if recording failed."""
    try:
        path.parent.mkdir(exist_ok=True)
        return record_episode(env, policy, seed, path)[0]
    except Exception as e:  # a video is a nicety: the run goes on without it
        logger.note(f"could not record {path.name} ({type(e).__name__}: {e}); no video")
        return None


def _episode_row(progress: _Progress, episode: int) -> dict[str, Any]:
    """The row of a finished training episode: its counts and return, and the newest value of
    every metric the agent's updates reported, under ``agent/<name>``."""
    return {
        "env_steps": progress.env_steps,
        "episode": episode + 1,
        "train_return": progress.ep_return,
        "train_episode_length": progress.ep_length,
        **{f"agent/{k}": v for k, v in progress.last_fit.items()},
    }


def _restore(
    checkpoints: CheckpointManager,
    logger: RunLogger,
    state: Any,
    buffer: ReplayBuffer,
    key: jax.Array,
    env: GymEnv,
) -> tuple[Any, ReplayBuffer, jax.Array, np.random.Generator, _Progress] | None:
    """The newest usable checkpoint of a run, or ``None`` (start over) when there is none."""
    for leftover in checkpoints.remove_temporaries():
        logger.note(f"removed {leftover.name}, left by a save that was interrupted")
    templates = {"agent": state, "buffer": buffer, "key": key}
    found = checkpoints.restore_latest(templates)
    if found is None:
        logger.note("resuming: no checkpoint yet, starting the run from its beginning")
        return None
    for path, why in found.skipped:
        logger.note(f"skipping unusable checkpoint {path.name}: {why}")
    progress = _Progress.from_meta(found.meta["progress"], env.spec)
    rng = np.random.default_rng()
    rng.bit_generator.state = found.meta["numpy_rng"]
    if progress.obs is not None or found.meta.get("env_saved", False):
        # The env's own state is in the checkpoint too (JAX-native envs only).
        env.reset(seed=0)  # any reset gives the structure to restore into
        env_tree = load_checkpoint(found.path, {"env": env.snapshot()})[0]["env"]
        env.restore(env_tree)
    where = "mid-episode" if progress.obs is not None else "at an episode boundary"
    logger.note(
        f"resuming from {found.path.name}: {progress.env_steps} env steps, "
        f"{progress.episode} episodes done, {where}"
    )
    trees = found.trees
    return trees["agent"], trees["buffer"], trees["key"], rng, progress
