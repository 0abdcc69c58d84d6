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

Each planner carries only what it uses between calls (optax's one state type per transform):
:class:`SequenceState` (the plan: random shooting, gradient shooting, collocation, iLQR/DDP,
LQR), :class:`GaussianState` (the plan and its sampling spread: CEM, MPPI, SampledMCTS),
``ICEMState`` (adds the kept elites) and ``MCTSState`` (a search counter).

Every planner config also builds from an env's spec with one signature, whatever its action
space::

    planner = config.build_for(env.spec, terminal_value=None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from jaxtyping import Array, Bool, Float, PRNGKeyArray

if TYPE_CHECKING:
    from mbrlax.envs.spec import EnvSpec

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


class SequenceState(NamedTuple):
    """The warm start of a planner that keeps only its plan between calls.

    Attributes:
        mean: ``[H, A]`` the plan, shifted by one step after each call.
    """

    mean: Float[Array, "H A"]


class GaussianState(NamedTuple):
    """A plan and the spread sampled around it (CEM, MPPI, SampledMCTS).

    Attributes:
        mean: ``[H, A]`` the plan (mean of the sampling distribution).
        std: ``[H, A]`` the sampling spread (CEM), noise scale (MPPI) or proposal spread
            (SampledMCTS).
    """

    mean: Float[Array, "H A"]
    std: Float[Array, "H A"]


class PlannerState(NamedTuple):
    """Deprecated: the state every planner shared before each got its own type (kept for one
    release; no planner returns it). Use :class:`SequenceState`, :class:`GaussianState`,
    ``ICEMState`` or ``MCTSState``."""

    mean: Float[Array, "H A"]
    std: Float[Array, "H A"]
    elites: Float[Array, "K H A"]


class Planner(NamedTuple):
    """``init() -> pstate`` and ``plan(pstate, step, state, key) -> (action, pstate, info)``.

    ``info`` is a dict of scalar arrays (e.g. ``"expected_return"``) for logging.
    ``sequence(pstate) -> [H, A]`` is the plan a state keeps (for pictures and trajectories);
    ``None`` for tree search over discrete actions, which keeps no sequence.
    """

    init: Callable[[], Any]
    plan: Callable[
        [Any, StepFn, State, PRNGKeyArray],
        tuple[Float[Array, " A"], Any, dict[str, Array]],
    ]
    sequence: Callable[[Any], Float[Array, "H A"]] | None = None


class PlannerConfig:
    """What every planner config shares: :meth:`build_for` an env's action space.

    A planner over Box actions defines ``build(action_low, action_high, terminal_value=None)``;
    one over discrete actions sets ``discrete_actions = True`` and overrides
    :meth:`build_for`.
    """

    discrete_actions: ClassVar[bool] = False
    """Whether the planner searches over Discrete actions (else Box actions)."""

    def build(self, *args: Any, **kwargs: Any) -> Planner:  # pragma: no cover - overridden
        raise NotImplementedError

    def build_for(self, spec: EnvSpec, terminal_value: TerminalValueFn | None = None) -> Planner:
        """The planner for ``spec``'s actions; ``terminal_value(s_H) -> []`` (optional) values
        the states the horizon ends in (the leaves, for tree search)."""
        name = type(self).__name__
        if not spec.is_continuous:
            raise ValueError(
                f"{name} plans continuous actions but {spec.env_id} has a Discrete action "
                "space; use MCTS (tree search over discrete actions)."
            )
        return self.build(*spec.action_bounds(), terminal_value)
