"""The planners' interface: a pair of pure functions in the optax style.

A planner answers "what should I do now?" for *any* transition function::

    step(state, action [A], key) -> (next_state, reward [], terminated [])

``state`` is whatever pytree the step function works on: a JAX env's state, an
observation, or a belief made of model particles (see ``mbrlax.models.propagation``).
``step`` works on one example; the planner ``vmap``s it over candidate action sequences.

    planner = CEM(horizon=15).build(action_low, action_high)
    pstate = planner.init()                       # at the start of each episode
    action, pstate, info = planner.plan(pstate, step, state, key)

``plan`` is fully jittable (``step`` is a static Python callable; close over arrays that
change, such as model parameters, *inside* the jitted function so nothing recompiles), and
warm-starts from the previous plan: the stored mean sequence is shifted by one step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from jaxtyping import Array, Bool, Float, PRNGKeyArray

State = Any


class StepFn(Protocol):
    """A transition function on one example.

    ``(state, action [A], key) -> (state, reward [], done [])``.
    """

    def __call__(
        self, state: State, action: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[State, Float[Array, ""], Bool[Array, ""]]: ...


TerminalValueFn = Callable[[State], Float[Array, ""]]
"""Optional value of the state reached at the end of the horizon, ``V(s_H)``."""


class PlannerState(NamedTuple):
    """Warm-start state carried between calls of ``plan``.

    Attributes:
        mean: ``[H, A]`` the current plan (mean of the sampling distribution).
        std: ``[H, A]`` the sampling spread (CEM/iCEM) or noise scale (MPPI).
        elites: ``[K, H, A]`` elites kept from the previous call (iCEM; empty otherwise).
    """

    mean: Float[Array, "H A"]
    std: Float[Array, "H A"]
    elites: Float[Array, "K H A"]


class Planner(NamedTuple):
    """``init() -> PlannerState`` and ``plan(pstate, step, state, key) -> (action, pstate, info)``.

    ``info`` is a dict of scalar arrays (e.g. ``"expected_return"``) for logging.
    """

    init: Callable[[], PlannerState]
    plan: Callable[
        [PlannerState, StepFn, State, PRNGKeyArray],
        tuple[Float[Array, " A"], PlannerState, dict[str, Array]],
    ]
