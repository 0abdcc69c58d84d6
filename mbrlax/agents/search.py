"""Acting by a search its own networks guide: what AlphaZero and MuZero share.

An agent that mixes in :class:`GuidedSearch` defines ``search(guide, search, obs, key) ->
(action, info)`` (one MCTS from ``obs``, guided by the networks ``guide``) and ``guide(state)``
(the networks of its state that guide acting); it gets the runner's ``begin_episode``, ``act``
(a search with the config's root noise and temperature) and ``act_eval`` (the same search
without noise, the most visited action).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mbrlax.planners import MCTS


class GuidedSearch:
    """``act`` / ``act_eval`` of a frozen agent dataclass with ``spec`` and ``config.search``."""

    spec: Any
    config: Any

    def guide(self, state: Any) -> Any:
        """The networks of ``state`` that guide the search when acting."""
        raise NotImplementedError

    def search(
        self, guide: Any, search: MCTS, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], dict[str, Array]]:
        """One search from ``obs`` guided by ``guide``: ``(action [], info)`` (see MCTS)."""
        raise NotImplementedError

    @property
    def num_actions(self) -> int:
        return self.spec.num_actions

    @functools.cached_property
    def _greedy_search(self) -> MCTS:
        """The config's search without root noise, acting on the most visited action."""
        return dataclasses.replace(self.config.search, dirichlet_fraction=0.0, temperature=0.0)

    def begin_episode(self, state: Any) -> Any:
        return state  # each search starts a fresh tree

    def act(
        self, state: Any, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], Any, dict[str, Array]]:
        """A search with root noise; the action drawn from its visit counts."""
        action, info = _search(self, self.guide(state), self.config.search, obs, key)
        return action, state, info

    def act_eval(
        self, state: Any, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], Any, dict[str, Array]]:
        """A search without noise; the most visited action."""
        action, info = _search(self, self.guide(state), self._greedy_search, obs, key)
        return action, state, info


# Jitted apart from the agent state: only the networks go in, so acting never copies the
# optimiser state, and the action is all that comes back to the host.
@functools.partial(jax.jit, static_argnums=(0, 2))
def _search(
    agent: GuidedSearch, guide: Any, search: MCTS, obs: Float[Array, " d"], key: PRNGKeyArray
) -> tuple[Int[Array, ""], dict[str, Array]]:
    return agent.search(guide, search, obs, key)
