"""`MCTS`: Monte Carlo tree search over discrete actions, on DeepMind's ``mctx``.

The search itself is mctx's (Danihelka et al., 2022): mbrlax supplies the model and the
values. A node holds a state of the given ``step`` function and whether an earlier step
terminated; expanding a node runs ``step`` once. Leaves are valued by a value function
``V(s)`` when one is given (AlphaZero), else by the discounted return of one random rollout of
``rollout_depth`` uniformly random actions (classic MCTS). A terminated node earns nothing
further and its value is 0, so the search respects termination like every other planner.

Two root policies:

- ``"muzero"``: PUCT selection (Silver et al., 2017; Schrittwieser et al., 2020) with the
  prior of ``prior_fn`` (uniform without one) and optional Dirichlet noise at the root; the
  action is the most visited one (``temperature = 0``) or drawn from the visit counts.
- ``"gumbel_muzero"``: Gumbel MuZero (Danihelka et al., 2022): Gumbel-top-k sampling of
  ``max_num_considered_actions`` root actions and sequential halving; it improves the policy
  even with few simulations (e.g. 2 to 16).

    planner = MCTS(num_simulations=32).build(env.spec.num_actions)
    action, pstate, info = planner.plan(planner.init(), as_step_fn(env), state, key)
    # info["action_weights"] [N]: the search policy (AlphaZero's policy target)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import mctx
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import Planner, PlannerConfig, State, StepFn

if TYPE_CHECKING:
    from mbrlax.envs.spec import EnvSpec

ValueFn = Callable[[State], Float[Array, ""]]
"""``V(s) -> []``: the value of a state (a value network, or an exact one)."""

PriorFn = Callable[[State], Float[Array, " N"]]
"""``s -> logits [N]``: the prior policy over the actions (a policy network)."""


class MCTSState(NamedTuple):
    """What ``plan`` carries between calls: nothing yet (each search starts a fresh tree).

    Attributes:
        searches: ``[]`` int32, searches run since ``init``.
    """

    searches: Int[Array, ""]


class _Node(NamedTuple):
    """A search node's embedding: the model state and whether a step up to it terminated."""

    state: State
    done: Bool[Array, ""]


@dataclasses.dataclass(frozen=True)
class MCTS(PlannerConfig):
    """Monte Carlo tree search for discrete actions ``0 .. N-1`` (see the module docstring).

    Attributes:
        num_simulations: simulations per search (each expands one node, one ``step`` call).
        discount: ``gamma`` in ``(0, 1]`` of the returns the search maximises.
        policy: ``"muzero"`` (PUCT) or ``"gumbel_muzero"`` (sequential halving at the root).
        rollout_depth: steps of the uniformly random rollouts that value a leaf when no
            ``value_fn`` is given (0: leaves are worth 0, the search sees only its rewards).
        num_rollouts: random rollouts averaged per leaf (their variance shrinks as 1 / n).
        max_depth: deepest node the search may expand (None: ``num_simulations``).
        temperature: ``"muzero"`` acts on ``visit_counts ** (1 / temperature)``; 0 takes the
            most visited action (ties broken at random).
        dirichlet_fraction: weight of Dirichlet noise on the root prior (``"muzero"``); 0 for
            planning, 0.25 when search statistics train a policy (AlphaZero).
        dirichlet_alpha: concentration of that noise.
        pb_c_init: PUCT's exploration constant ``c_1``.
        pb_c_base: PUCT's ``c_2``.
        max_num_considered_actions: root actions Gumbel MuZero samples (``"gumbel_muzero"``).
        gumbel_scale: scale of the Gumbel noise (0: deterministic, ``"gumbel_muzero"``).
    """

    num_simulations: int = 32
    discount: float = 1.0
    policy: Literal["muzero", "gumbel_muzero"] = "muzero"
    rollout_depth: int = 20
    num_rollouts: int = 1
    max_depth: int | None = None
    temperature: float = 0.0
    dirichlet_fraction: float = 0.0
    dirichlet_alpha: float = 0.3
    pb_c_init: float = 1.25
    pb_c_base: float = 19652.0
    max_num_considered_actions: int = 16
    gumbel_scale: float = 1.0

    def __post_init__(self) -> None:
        _rollout.check_positive_int("MCTS", "num_simulations", self.num_simulations)
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"MCTS: discount must be in (0, 1], got {self.discount}.")
        if self.policy not in ("muzero", "gumbel_muzero"):
            raise ValueError(
                f"MCTS: policy must be 'muzero' or 'gumbel_muzero', got {self.policy!r}."
            )
        if not isinstance(self.rollout_depth, int) or self.rollout_depth < 0:
            raise ValueError(f"MCTS: rollout_depth must be an int >= 0, got {self.rollout_depth}.")
        _rollout.check_positive_int("MCTS", "num_rollouts", self.num_rollouts)
        if self.max_depth is not None and self.max_depth < 1:
            raise ValueError(f"MCTS: max_depth must be >= 1 or None, got {self.max_depth}.")
        if self.temperature < 0 or not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ValueError("MCTS: temperature must be >= 0 and dirichlet_fraction in [0, 1].")
        _rollout.check_positive_int(
            "MCTS", "max_num_considered_actions", self.max_num_considered_actions
        )

    discrete_actions: ClassVar[bool] = True

    def build_for(self, spec: EnvSpec, terminal_value: ValueFn | None = None) -> Planner:
        """The search over ``spec``'s Discrete actions; ``terminal_value`` values the leaves."""
        if spec.is_continuous:
            raise ValueError(
                f"MCTS searches over discrete actions but {spec.env_id} has Box actions; use "
                "SampledMCTS (tree search over sampled continuous actions) or a trajectory "
                "optimiser such as CEM or MPPI."
            )
        return self.build(spec.num_actions, value_fn=terminal_value)

    def build(
        self,
        num_actions: int,
        value_fn: ValueFn | None = None,
        prior_fn: PriorFn | None = None,
    ) -> Planner:
        """The planner over actions ``0 .. num_actions - 1``.

        ``value_fn(s) -> []`` values leaves (instead of random rollouts); ``prior_fn(s) ->
        logits [num_actions]`` is PUCT's prior (uniform without one).
        """
        if not isinstance(num_actions, int) or num_actions < 2:
            raise ValueError(
                f"MCTS searches over discrete actions and needs num_actions >= 2, got "
                f"{num_actions!r}; for Box actions use a sampling planner (CEM, MPPI) or "
                "SampledMCTS (tree search over sampled actions)."
            )

        def init() -> MCTSState:
            return MCTSState(jnp.int32(0))

        def plan(
            pstate: MCTSState, step: StepFn, state: State, key: PRNGKeyArray
        ) -> tuple[Int[Array, ""], MCTSState, dict[str, Array]]:
            return _plan(self, num_actions, value_fn, prior_fn, pstate, step, state, key)

        return Planner(init=init, plan=plan)


def rollout_value(
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
    num_actions: int,
    depth: int,
    discount: float,
) -> Float[Array, ""]:
    """``[]`` the discounted return of ``depth`` uniformly random actions from ``state``,
    nothing after a termination (a Monte Carlo estimate of the random policy's value)."""

    def body(carry: tuple[Any, Array, Array, Array], key: PRNGKeyArray):
        s, alive, ret, weight = carry
        k_action, k_step = jax.random.split(key)
        action = jax.random.randint(k_action, (), 0, num_actions, dtype=jnp.int32)
        s, reward, terminated = step(s, action, k_step)
        ret = ret + jnp.where(alive, weight * reward, 0.0)
        alive = alive & ~jnp.asarray(terminated, bool)
        return (s, alive, ret, weight * discount), None

    init = (state, jnp.array(True), jnp.float32(0.0), jnp.float32(1.0))
    (_, _, ret, _), _ = jax.lax.scan(body, init, jax.random.split(key, depth))
    return ret


def _plan(
    cfg: MCTS,
    num_actions: int,
    value_fn: ValueFn | None,
    prior_fn: PriorFn | None,
    pstate: MCTSState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
) -> tuple[Int[Array, ""], MCTSState, dict[str, Array]]:
    """One search from ``state``: ``(action [] int32, next pstate, info)``."""

    def leaf_value(s: State, k: PRNGKeyArray) -> Float[Array, ""]:
        if value_fn is not None:
            return jnp.asarray(value_fn(s), jnp.float32)
        if cfg.rollout_depth == 0:
            return jnp.float32(0.0)
        values = jax.vmap(
            lambda k: rollout_value(step, s, k, num_actions, cfg.rollout_depth, cfg.discount)
        )(jax.random.split(k, cfg.num_rollouts))
        return jnp.mean(values)

    def prior(s: State) -> Float[Array, " N"]:
        if prior_fn is None:
            return jnp.zeros((num_actions,), jnp.float32)
        return jnp.asarray(prior_fn(s), jnp.float32)

    def expand(node: _Node, action: Int[Array, ""], k: PRNGKeyArray):
        k_step, k_value = jax.random.split(k)
        next_state, reward, terminated = step(node.state, action, k_step)
        done = node.done | jnp.asarray(terminated, bool)
        # Past a termination nothing is earned; `where` also keeps a model's output on states
        # it was never meant to see out of the search's statistics.
        out = mctx.RecurrentFnOutput(
            reward=jnp.where(node.done, 0.0, reward).astype(jnp.float32),
            discount=jnp.where(done, 0.0, cfg.discount).astype(jnp.float32),
            prior_logits=prior(next_state),
            value=jnp.where(done, 0.0, leaf_value(next_state, k_value)),
        )
        return out, _Node(next_state, done)

    def recurrent_fn(params, k, action, nodes):
        del params  # the model is closed over in `step`
        return jax.vmap(expand)(nodes, action, jax.random.split(k, action.shape[0]))

    k_root, k_search = jax.random.split(key)
    root_node = _Node(state, jnp.array(False))
    root = mctx.RootFnOutput(
        prior_logits=prior(state)[None],
        value=leaf_value(state, k_root)[None],
        embedding=jax.tree.map(lambda x: jnp.asarray(x)[None], root_node),
    )
    if cfg.policy == "muzero":
        out = mctx.muzero_policy(
            params=(), rng_key=k_search, root=root, recurrent_fn=recurrent_fn,
            num_simulations=cfg.num_simulations, max_depth=cfg.max_depth,
            dirichlet_fraction=cfg.dirichlet_fraction, dirichlet_alpha=cfg.dirichlet_alpha,
            pb_c_init=cfg.pb_c_init, pb_c_base=cfg.pb_c_base, temperature=cfg.temperature,
        )  # fmt: skip
    else:
        out = mctx.gumbel_muzero_policy(
            params=(), rng_key=k_search, root=root, recurrent_fn=recurrent_fn,
            num_simulations=cfg.num_simulations, max_depth=cfg.max_depth,
            max_num_considered_actions=cfg.max_num_considered_actions,
            gumbel_scale=cfg.gumbel_scale,
        )  # fmt: skip
    summary = out.search_tree.summary()
    action = out.action[0].astype(jnp.int32)
    info = {
        "expected_return": summary.value[0],
        "action_weights": out.action_weights[0],
        "visit_counts": summary.visit_counts[0],
        "q_values": summary.qvalues[0],
    }
    return action, MCTSState(pstate.searches + 1), info
