"""What the runner needs from an agent: pure functions of an explicit agent-state pytree."""

from __future__ import annotations

from typing import Any, Protocol

from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer

AgentState = Any


class Agent(Protocol):
    """The interface the runner drives.

    ``act`` is called every env step (it should be jitted inside the agent); ``update`` is
    called by the runner when it is time to learn (for PETS: refit the model). The replay
    buffer belongs to the runner, which passes it to ``update``.
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
