"""What the runner needs from an agent: pure functions of an explicit agent-state pytree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec

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
