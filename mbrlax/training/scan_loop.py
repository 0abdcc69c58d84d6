"""The runner's loop compiled: many seeds of an online agent on a JAX-native env as one
``jit(vmap(...))``, with the episodes :func:`mbrlax.training.loop.train` would have given each seed.

For agents that learn from each transition as it comes (:class:`~mbrlax.agents.base.OnlineAgent`,
e.g. tabular Dyna): the host loop's schedule (act, step, learn after every step, episode
resets with the runner's env seeds, the env's ``next_episode`` between episodes) is replayed
inside ``lax.scan`` / ``while_loop``, so nothing crosses to the host until the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.agents.base import OnlineAgent
from mbrlax.data.buffer import Transition
from mbrlax.envs.base import JaxEnv
from mbrlax.training.loop import RunnerConfig, episode_seed


class CompiledRuns(NamedTuple):
    """What :func:`compiled_runs` returns, every field with leading axis ``R`` (runs).

    Attributes:
        episode_return: ``[R, E]`` float32, the return of each training episode.
        episode_length: ``[R, E]`` int32, its steps.
        env_steps: ``[R, E]`` int32, env steps taken by the end of each episode.
        agent: the agents' states at the end, every leaf ``[R, ...]``.
    """

    episode_return: Float[Array, "R E"]
    episode_length: Int[Array, "R E"]
    env_steps: Int[Array, "R E"]
    agent: Any


def check_compilable(runner: RunnerConfig) -> None:
    """Raise ``ValueError`` unless :func:`compiled_runs` can replay ``runner``'s schedule."""
    unsupported = {
        "warmup_steps": (runner.warmup_steps, 0),
        "refit_every": (runner.refit_every, 1),
        "eval_episodes": (runner.eval_episodes, 0),
    }
    bad = {k: v for k, (v, want) in unsupported.items() if v != want}
    if bad:
        flags = ", ".join(f"--{k.replace('_', '-')} {unsupported[k][1]}" for k in bad)
        raise ValueError(
            "many runs compiled as one computation cover training episodes only, learning "
            f"after every step: use {flags} (got {', '.join(f'{k}={v}' for k, v in bad.items())})"
            ", or run the seeds one by one (`mbrlax sweep`)."
        )


def compiled_runs(
    agent: OnlineAgent, env: JaxEnv, runner: RunnerConfig, seeds: Sequence[int]
) -> CompiledRuns:
    """Train one agent per seed on a JAX-native env, all runs one ``jit(vmap(...))``.

    Each run replays exactly what :func:`mbrlax.training.loop.train` does with that seed on the
    same env (same key splits, same env seeds per episode, the env's ``next_episode``
    between episodes), so its episodes, returns and final state are those of the runner's
    run, only without the host in the loop. ``runner`` must have no warm-up, no evaluation
    and ``refit_every = 1`` (:func:`check_compilable`); its ``episodes`` is the run length.
    """
    check_compilable(runner)
    if agent.spec != env.spec:
        raise ValueError(f"the agent was made for {agent.spec.env_id}, not {env.spec.env_id}.")
    episodes = runner.episodes
    env_seeds = np.array(
        [[episode_seed(seed, 0, e) for e in range(episodes)] for seed in seeds], np.uint32
    )
    keys = jnp.stack([jax.random.key(int(seed)) for seed in seeds])
    limit = env.spec.max_episode_steps
    return jax.jit(jax.vmap(lambda k, s: _one_run(agent, env, limit, k, s)))(keys, env_seeds)


class _Step(NamedTuple):
    agent: Any
    env_state: Any
    obs: Array
    key: PRNGKeyArray
    ret: Float[Array, ""]
    length: Int[Array, ""]
    done: Bool[Array, ""]


class _Episode(NamedTuple):
    agent: Any
    env_state: Any
    key: PRNGKeyArray
    steps: Int[Array, ""]


def _one_run(
    agent: OnlineAgent,
    env: JaxEnv,
    limit: int | None,
    key: PRNGKeyArray,
    env_seeds: Int[Array, " E"],
) -> CompiledRuns:
    key, init_key = jax.random.split(key)
    state = agent.init(init_key)
    env_state, _ = env.reset(jax.random.key(0))  # a template; the first episode resets afresh

    def step(c: _Step) -> _Step:
        key, act_key = jax.random.split(c.key)
        action, state, _ = agent.act(c.agent, c.obs, act_key)
        out = env.step(c.env_state, action)
        key, fit_key = jax.random.split(key)
        t = Transition(c.obs, action, out.reward, out.obs, out.terminated)
        state = agent.learn(state, t, fit_key)
        length = c.length + 1
        truncated = jnp.array(False) if limit is None else length >= limit
        done = jnp.asarray(out.terminated, bool) | truncated
        return _Step(state, out.state, out.obs, key, c.ret + out.reward, length, done)

    def episode(carry: _Episode, inputs: tuple[Bool[Array, ""], Int[Array, ""]]):
        first, env_seed = inputs
        state = agent.begin_episode(carry.agent)
        _, reset_key = jax.random.split(jax.random.key(env_seed))  # as JaxGymEnv.reset(seed)
        fresh = env.reset(reset_key)
        following = env.next_episode(carry.env_state, reset_key)
        env_state, obs = jax.tree.map(lambda a, b: jnp.where(first, a, b), fresh, following)
        start = _Step(
            state, env_state, obs, carry.key, jnp.float32(0), jnp.int32(0), jnp.array(False)
        )
        end = jax.lax.while_loop(lambda c: ~c.done, step, start)
        steps = carry.steps + end.length
        return _Episode(end.agent, end.env_state, end.key, steps), (end.ret, end.length, steps)

    firsts = jnp.arange(env_seeds.shape[0]) == 0
    final, (returns, lengths, steps) = jax.lax.scan(
        episode, _Episode(state, env_state, key, jnp.int32(0)), (firsts, env_seeds)
    )
    return CompiledRuns(returns, lengths, steps, final.agent)
