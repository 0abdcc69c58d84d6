"""Sutton & Barto's maze experiments (chapter 8) as compiled loops of the tabular algorithms.

A whole run is one :func:`jax.lax.scan` over episodes of :func:`jax.lax.while_loop` steps, a
function of one key, so ``jax.vmap`` over keys runs many independent runs as one compiled
computation (``benchmarks/dyna_maze.py`` reproduces Figures 8.2, 8.4 and 8.5 and Example 8.4
with it). The runner does not use these loops: ``mbrlax train dyna-q`` drives
:class:`~mbrlax.agents.dyna.agent.DynaAgent`, and ``--runs N`` compiles its loop with
:func:`mbrlax.training.scan_loop.compiled_runs`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.agents.dyna.tabular import (
    Config,
    DynaQState,
    epsilon_greedy,
    init,
    learn,
)
from mbrlax.envs.maze import Maze, MazeState


class _StepCarry(NamedTuple):
    agent: DynaQState
    env_state: MazeState
    key: PRNGKeyArray


def _real_step(
    config: Config, maze: Maze, carry: _StepCarry
) -> tuple[_StepCarry, Float[Array, ""], Bool[Array, ""]]:
    """Act epsilon-greedily, step the maze, learn; returns ``(carry, reward, terminated)``."""
    key, act_key, plan_key = jax.random.split(carry.key, 3)
    s = maze.observe(carry.env_state)
    a = epsilon_greedy(carry.agent.q[s], config.epsilon, act_key)
    out = maze.step(carry.env_state, a)
    agent = learn(config, carry.agent, s, a, out.reward, out.obs, out.terminated, plan_key)
    return _StepCarry(agent, out.state, key), out.reward, out.terminated


class _EpisodeCarry(NamedTuple):
    step: _StepCarry
    steps: Int[Array, ""]
    done: Bool[Array, ""]


def run_episode(
    config: Config, maze: Maze, agent: DynaQState, env_state: MazeState, key: PRNGKeyArray
) -> tuple[DynaQState, MazeState, Int[Array, ""]]:
    """One episode from the start cell (the maze's clock goes on from ``env_state``).

    Returns ``(agent, env_state, steps [])``; the episode ends at the goal or after
    ``config.max_episode_steps`` real steps.
    """
    env_state, _ = maze.restart(env_state)

    def cond(carry: _EpisodeCarry) -> Bool[Array, ""]:
        return ~carry.done & (carry.steps < config.max_episode_steps)

    def body(carry: _EpisodeCarry) -> _EpisodeCarry:
        step, _, terminated = _real_step(config, maze, carry.step)
        return _EpisodeCarry(step, carry.steps + 1, terminated)

    start = _EpisodeCarry(_StepCarry(agent, env_state, key), jnp.int32(0), jnp.array(False))
    end = jax.lax.while_loop(cond, body, start)
    return end.step.agent, end.step.env_state, end.steps


def train_episodes(
    config: Config, maze: Maze, key: PRNGKeyArray, num_episodes: int
) -> tuple[DynaQState, Int[Array, " E"]]:
    """A fresh agent run for ``num_episodes`` episodes; ``(agent, steps_per_episode [E])``.

    Jittable with ``config``, ``maze`` and ``num_episodes`` static; ``vmap`` over ``key``.
    """
    env_state, _ = maze.reset(key)
    agent = init(maze.num_states, maze.num_actions, config.model)

    def episode(
        carry: tuple[DynaQState, MazeState], key: PRNGKeyArray
    ) -> tuple[tuple[DynaQState, MazeState], Int[Array, ""]]:
        agent, env_state, steps = run_episode(config, maze, *carry, key)
        return (agent, env_state), steps

    (agent, _), steps = jax.lax.scan(
        episode, (agent, env_state), jax.random.split(key, num_episodes)
    )
    return agent, steps


def run_episodes(
    config: Config, maze: Maze, key: PRNGKeyArray, num_episodes: int
) -> Int[Array, " E"]:
    """Steps per episode ``[E]`` of a fresh agent (Figure 8.2's curves, one run)."""
    return train_episodes(config, maze, key, num_episodes)[1]


def run_steps(
    config: Config, maze: Maze, key: PRNGKeyArray, num_steps: int
) -> tuple[DynaQState, Float[Array, " T"]]:
    """A fresh agent run for ``num_steps`` real steps, restarting at each goal.

    Returns ``(agent, cumulative_reward [T])``, the curves of Figures 8.4 and 8.5; episodes
    are not cut off (``max_episode_steps`` is unused).
    """
    env_state, _ = maze.reset(key)
    agent = init(maze.num_states, maze.num_actions, config.model)

    def step(
        carry: tuple[_StepCarry, Float[Array, ""]], _: None
    ) -> tuple[tuple[_StepCarry, Float[Array, ""]], Float[Array, ""]]:
        step_carry, total = carry
        step_carry, reward, terminated = _real_step(config, maze, step_carry)
        restarted, _ = maze.restart(step_carry.env_state)
        env_state = jax.tree.map(
            lambda new, old: jnp.where(terminated, new, old), restarted, step_carry.env_state
        )
        total = total + reward
        return (step_carry._replace(env_state=env_state), total), total

    start = (_StepCarry(agent, env_state, key), jnp.float32(0.0))
    (end, _), cumulative = jax.lax.scan(step, start, None, length=num_steps)
    return end.agent, cumulative


def greedy_path_length(
    maze: Maze, q: Float[Array, "S A"], max_steps: int = 100, after_change: bool = False
) -> Int[Array, ""]:
    """Steps the greedy policy of ``q`` (ties to the first action) takes from start to goal.

    ``max_steps`` if it does not get there within ``max_steps`` (e.g. it loops). Uses the
    walls before the change, or after it with ``after_change``.
    """
    clock = jnp.int32(maze.change_at if after_change and maze.change_at is not None else 0)
    env_state = MazeState(jnp.int32(maze.cell_index(maze.start)), clock)

    def cond(carry: tuple[MazeState, Int[Array, ""], Bool[Array, ""]]) -> Bool[Array, ""]:
        _, steps, done = carry
        return ~done & (steps < max_steps)

    def body(
        carry: tuple[MazeState, Int[Array, ""], Bool[Array, ""]],
    ) -> tuple[MazeState, Int[Array, ""], Bool[Array, ""]]:
        state, steps, _ = carry
        out = maze.step(state, jnp.argmax(q[state.cell]).astype(jnp.int32))
        return out.state._replace(clock=clock), steps + 1, out.terminated

    _, steps, _ = jax.lax.while_loop(cond, body, (env_state, jnp.int32(0), jnp.array(False)))
    return steps


class EpisodeStats(NamedTuple):
    """Per-episode record of one run, every field int32 ``[E]``.

    Attributes:
        steps: real steps of each episode.
        updates: Q-learning updates made by the end of each episode (cumulative).
        greedy_steps: :func:`greedy_path_length` of the greedy policy at each episode's end.
    """

    steps: Int[Array, " E"]
    updates: Int[Array, " E"]
    greedy_steps: Int[Array, " E"]


def learning_curve(
    config: Config, maze: Maze, key: PRNGKeyArray, num_episodes: int, max_greedy_steps: int = 100
) -> EpisodeStats:
    """A fresh agent run for ``num_episodes`` episodes, recording :class:`EpisodeStats`.

    Jittable with ``config``, ``maze``, ``num_episodes`` static; ``vmap`` over ``key``.
    """
    env_state, _ = maze.reset(key)
    agent = init(maze.num_states, maze.num_actions, config.model)

    def episode(
        carry: tuple[DynaQState, MazeState], key: PRNGKeyArray
    ) -> tuple[tuple[DynaQState, MazeState], EpisodeStats]:
        agent, env_state, steps = run_episode(config, maze, *carry, key)
        greedy = greedy_path_length(maze, agent.q, max_greedy_steps)
        return (agent, env_state), EpisodeStats(steps, agent.updates, greedy)

    _, stats = jax.lax.scan(episode, (agent, env_state), jax.random.split(key, num_episodes))
    return stats


def updates_until_optimal(stats: EpisodeStats, optimal_steps: int) -> Int[Array, " *batch"]:
    """Updates made by the first episode after which the greedy path has ``optimal_steps``.

    ``-1`` where that never happens. ``stats`` fields ``[*batch, E]``; returns ``[*batch]``.
    """
    found = stats.greedy_steps == optimal_steps
    first = jnp.argmax(found, axis=-1)
    updates = jnp.take_along_axis(stats.updates, first[..., None], axis=-1)[..., 0]
    return jnp.where(found.any(axis=-1), updates, -1)
