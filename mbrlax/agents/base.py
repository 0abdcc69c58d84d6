"""What the runner needs from an agent: pure functions of an explicit agent-state pytree."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions
from mbrlax.models.ensemble import EnsembleConfig, ProbabilisticEnsemble, TaskFn

AgentState = Any


class Agent(Protocol):
    """The interface the runner drives.

    ``act`` is called every env step (it should be jitted inside the agent); ``update`` is
    called by the runner when it is time to learn (for PETS: refit the model). The replay
    buffer belongs to the runner, which passes it to ``update``. An agent may also define
    ``act_eval`` for evaluation episodes (see :func:`eval_act`).
    """

    def init(self, key: PRNGKeyArray) -> AgentState:
        """A fresh agent state."""
        ...

    def begin_episode(self, state: AgentState) -> AgentState:
        """Reset per-episode parts of the state (e.g. a planner's warm start)."""
        ...

    def act(
        self, state: AgentState, obs: Float[Array, " obs_dim"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], AgentState, dict[str, Array]]:
        """Choose an action for one observation; returns ``(action [A], state, info)``."""
        ...

    def update(
        self, state: AgentState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[AgentState, dict[str, Array]]:
        """Learn from the data in ``buffer``; returns ``(state, metrics)``."""
        ...


class OnlineAgent(Agent, Protocol):
    """An agent that learns from each transition as it comes (tabular Dyna): besides
    ``update`` (the newest transition of the runner's buffer) it has the pure ``learn`` on one
    transition, so :func:`mbrlax.compiled.compiled_runs` can run its whole loop compiled."""

    spec: EnvSpec

    def learn(self, state: AgentState, t: Transition, key: PRNGKeyArray) -> AgentState:
        """One real step of learning from transition ``t``; jittable."""
        ...


def eval_act(agent: Agent) -> Callable[..., Any]:
    """The ``act`` of evaluation episodes: the agent's optional ``act_eval`` (same signature
    as ``act``; e.g. greedy where training explores), else its ``act``."""
    return getattr(agent, "act_eval", agent.act)


def known_task_fns(
    task: TaskFunctions | None, learn_reward: bool, learn_termination: bool
) -> tuple[TaskFn | None, TaskFn | None]:
    """``(reward_fn, termination_fn)`` a model-based agent uses as known: the task's, unless
    it has none (a reward hidden from observations) or the agent is told to learn it."""
    reward = None if learn_reward or task is None else task.reward
    termination = None if learn_termination or task is None else task.termination
    return reward, termination


def ensemble_for(
    config: EnsembleConfig, spec: EnvSpec, reward_fn: TaskFn | None, termination_fn: TaskFn | None
) -> ProbabilisticEnsemble:
    """The ensemble of ``config`` for ``spec``, with a learned reward head where no known
    reward function is used, and a learned termination head likewise."""
    heads = dataclasses.replace(
        config, learn_reward=reward_fn is None, learn_termination=termination_fn is None
    )
    return ProbabilisticEnsemble(heads, spec.obs_dim, spec.action_dim)
