"""`SampledMCTS`: tree search over continuous (Box) actions, Sampled MuZero style, on ``mctx``.

Sampled MuZero (Hubert et al., 2021, "Learning and Planning in Complex Action Spaces") makes
a discrete search work on a continuous action space: every node draws ``K`` candidate actions
from a proposal ``beta`` when it is created, and the search runs over those ``K``. The search
itself is mctx's (PUCT or Gumbel MuZero, as in :class:`mbrlax.planners.MCTS`); mbrlax supplies
the candidates, the model and the values:

- a node's embedding holds its model state, whether an earlier step terminated, its depth and
  its ``K`` candidates ``[K, A]``; mctx's action ``i`` at a node means that node's ``i``-th
  candidate. Expanding runs ``step`` on the parent's candidate ``i`` and draws ``K`` for the
  child.
- the proposal at depth ``d`` is a Gaussian around the warm-start plan's action ``plan[d]``
  (the previous search's best sequence shifted by one step) with std ``proposal_std`` half
  ranges, clipped to the bounds; each sample is drawn uniformly over the box instead with
  probability ``uniform_fraction`` (so an action far from the plan can still be found).
  Candidate 0 is the proposal's mean itself: following the previous plan is always on the
  table, so the search never does worse than it by its own estimates. A ``proposal_fn(s) ->
  (mean [A], std [A])`` (a policy network) replaces the warm start.
- the prior over the ``K`` candidates is uniform: they are drawn from the proposal itself, so
  Sampled MuZero's correction ``(beta_hat / beta) pi`` with ``pi = beta`` is uniform.
- leaves are valued by ``terminal_value(s)`` when one is given, else by the return of a
  rollout that follows the proposal's mean (the warm-start plan from the leaf's depth on),
  optionally with noise, up to the search's horizon ``H``. A terminated node earns nothing
  further and its value is 0, as in every mbrlax planner.

The action executed is the root candidate with the most visits (or the highest Q). The plan
carried to the next call (``GaussianState.mean [H, A]``) is that candidate, then the tree's
most visited path below it as deep as it goes, completed by the old plan, shifted by one step.

    planner = SampledMCTS(horizon=20).build_for(env.spec)
    pstate = planner.init()
    action, pstate, info = planner.plan(pstate, as_step_fn(env), state, key)
    # info["candidates"] [K, A], info["visit_counts"] [K]: the root's search statistics
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import mctx
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.planners import _rollout
from mbrlax.planners.base import (
    GaussianState,
    Planner,
    PlannerConfig,
    State,
    StepFn,
    TerminalValueFn,
)

ProposalFn = Callable[[State], tuple[Float[Array, " A"], Float[Array, " A"]]]
"""``s -> (mean [A], std [A])``: a Gaussian proposal over actions (e.g. a policy network)."""


@dataclasses.dataclass(frozen=True)
class SampledMCTS(PlannerConfig):
    """Sampled MuZero's tree search over ``K`` sampled candidates per node (module docstring).

    The defaults are the best of ``benchmarks/sampled_search.py`` on the pendulum swing-up:
    over 32 start states a mean return of -151 against CEM(horizon=20)'s -154.

    Attributes:
        horizon: ``H``, the length of the warm-start plan and of the search: no node is deeper
            than ``H`` and rollouts stop at step ``H`` from the root, so every leaf estimates
            the same ``H``-step return (else, on tasks that pay costs, a deeper leaf, which has
            summed more of them, would look worse than a shallow one just for its depth;
            pendulum, 16 starts: -165 with the cut, -172 without).
        num_simulations: simulations per search (each expands one node: one ``step`` call, a
            draw of ``K`` candidates and the leaf's rollouts).
        num_candidates: ``K``, actions sampled per node (mctx's ``num_actions``), ``>= 2``.
        discount: ``gamma`` in ``(0, 1]`` of the returns the search maximises.
        policy: ``"gumbel_muzero"`` (sequential halving at the root, which tries every
            considered candidate before it narrows down: the default, it needs few
            simulations) or ``"muzero"`` (PUCT; an unvisited candidate counts as its parent's
            value, see :func:`_qtransform_completed_by_parent`).
        proposal_std: std of the Gaussian around the plan, in half-ranges ``(high - low) / 2``.
            Wide (1, clipped: about a third of the samples lands on the bounds) wins on the
            pendulum, whose swing-up and catch need full torque for many steps in a row.
        uniform_fraction: probability that a sampled candidate (candidate 0 is the mean) is
            drawn uniformly over the box instead, in ``[0, 1]``.
        rollout_depth: steps of the rollout that values a leaf without ``terminal_value``
            (cut at the horizon); None: up to the horizon; 0: leaves are worth 0.
        rollout_std: std of the noise on the rollout's actions, in half-ranges (0: rollouts
            follow the plan exactly, which planned best; see ``rollout_return``).
        num_rollouts: rollouts averaged per leaf (useful with noise or a stochastic model).
        max_depth: deepest node the search may expand, ``<= horizon`` (None: ``horizon``).
        select: the root candidate executed: ``"visits"`` (the most visited one, ties to the
            lower index, so to the warm start; with ``"gumbel_muzero"``, the winner of the
            sequential halving) or ``"q"`` (the highest Q among the visited ones).
        pb_c_init: PUCT's exploration constant ``c_1`` (``"muzero"``).
        pb_c_base: PUCT's ``c_2`` (``"muzero"``).
        max_num_considered_actions: root candidates Gumbel MuZero considers
            (``"gumbel_muzero"``; all ``K`` when ``K`` is smaller).
        gumbel_scale: scale of the Gumbel noise (``"gumbel_muzero"``). 0 by default: the
            candidates are random draws already, and the noise would also randomise the
            action executed.
    """

    horizon: int = 20
    num_simulations: int = 64
    num_candidates: int = 16
    discount: float = 1.0
    policy: Literal["muzero", "gumbel_muzero"] = "gumbel_muzero"
    proposal_std: float = 1.0
    uniform_fraction: float = 0.25
    rollout_depth: int | None = None
    rollout_std: float = 0.0
    num_rollouts: int = 1
    max_depth: int | None = None
    select: Literal["visits", "q"] = "visits"
    pb_c_init: float = 1.25
    pb_c_base: float = 19652.0
    max_num_considered_actions: int = 16
    gumbel_scale: float = 0.0

    def __post_init__(self) -> None:
        name = "SampledMCTS"
        _rollout.check_common(name, self.horizon, self.discount)
        _rollout.check_positive_int(name, "num_simulations", self.num_simulations)
        _rollout.check_positive_int(name, "num_candidates", self.num_candidates, minimum=2)
        if self.policy not in ("muzero", "gumbel_muzero"):
            raise ValueError(
                f"{name}.policy must be 'muzero' or 'gumbel_muzero', got {self.policy!r}."
            )
        if not self.proposal_std > 0:
            raise ValueError(f"{name}.proposal_std must be > 0, got {self.proposal_std!r}.")
        _rollout.check_unit_interval(name, "uniform_fraction", self.uniform_fraction)
        if self.rollout_depth is not None:
            _rollout.check_positive_int(name, "rollout_depth", self.rollout_depth, minimum=0)
        if not self.rollout_std >= 0:
            raise ValueError(f"{name}.rollout_std must be >= 0, got {self.rollout_std!r}.")
        _rollout.check_positive_int(name, "num_rollouts", self.num_rollouts)
        if self.max_depth is not None:
            _rollout.check_positive_int(name, "max_depth", self.max_depth)
            if self.max_depth > self.horizon:
                raise ValueError(
                    f"{name}.max_depth ({self.max_depth}) must be <= horizon "
                    f"({self.horizon}): the plan holds one action per depth; raise the horizon."
                )
        if self.select not in ("visits", "q"):
            raise ValueError(f"{name}.select must be 'visits' or 'q', got {self.select!r}.")
        _rollout.check_positive_int(
            name, "max_num_considered_actions", self.max_num_considered_actions
        )
        if not self.gumbel_scale >= 0:
            raise ValueError(f"{name}.gumbel_scale must be >= 0, got {self.gumbel_scale!r}.")

    @property
    def search_depth(self) -> int:
        """The deepest node the search expands (``max_depth``, by default the horizon)."""
        return self.horizon if self.max_depth is None else self.max_depth

    def build(
        self,
        action_low: Float[np.ndarray, " A"],
        action_high: Float[np.ndarray, " A"],
        terminal_value: TerminalValueFn | None = None,
        proposal_fn: ProposalFn | None = None,
    ) -> Planner:
        """The planner for actions in ``[action_low [A], action_high [A]]`` (finite).

        ``terminal_value(s) -> []`` values leaves instead of rollouts; ``proposal_fn(s) ->
        (mean [A], std [A])`` centres each node's candidates (and the rollouts) on a policy
        instead of the warm-start plan. ``init()`` gives the mid-point plan ``[H, A]`` with
        std ``proposal_std`` half-ranges (:class:`GaussianState`).

        ``plan``'s ``info``: ``expected_return`` ``[]`` (the root's value, the mean of the
        returns the search backed up), ``chosen_index`` ``[]`` and ``chosen_q`` ``[]`` (the
        executed candidate and its Q), ``path_depth`` ``[]`` (steps of the new plan taken
        from the tree), and the root's ``visit_counts`` ``[K]``, ``q_values`` ``[K]`` and
        ``candidates`` ``[K, A]``.
        """
        plan = functools.partial(_plan, proposal_fn=proposal_fn)
        return _rollout.build_planner(
            plan,
            self,
            self.horizon,
            action_low,
            action_high,
            terminal_value,
            make_state=GaussianState,
            spread=self.proposal_std,
        )


class _Node(NamedTuple):
    """A search node's embedding: the model state, whether a step up to it terminated, its
    depth (steps from the root) and the candidate actions ``[K, A]`` of its children."""

    state: State
    done: Bool[Array, ""]
    depth: Int[Array, ""]
    candidates: Float[Array, "K A"]


class _RolloutCarry(NamedTuple):
    state: State
    alive: Bool[Array, ""]
    weight: Float[Array, ""]  # discount ** j
    ret: Float[Array, ""]


class _PathCarry(NamedTuple):
    node: Int[Array, ""]
    on_path: Bool[Array, ""]  # False once the path left the tree


def _plan(
    cfg: SampledMCTS,
    low: Float[np.ndarray, " A"],
    high: Float[np.ndarray, " A"],
    terminal_value: TerminalValueFn | None,
    pstate: GaussianState,
    step: StepFn,
    state: State,
    key: PRNGKeyArray,
    *,
    proposal_fn: ProposalFn | None,
) -> tuple[Float[Array, " A"], GaussianState, dict[str, Array]]:
    """One search from ``state``: ``(action [A], next pstate, info)``; see :class:`SampledMCTS`."""
    horizon, num_actions = pstate.mean.shape
    lo, hi = jnp.asarray(low), jnp.asarray(high)
    mid, half_range = (lo + hi) / 2, (hi - lo) / 2

    def proposal(s: State, depth: Int[Array, ""]) -> tuple[Array, Array]:
        """``(mean [A], std [A])`` of the candidates of a node at ``depth`` in state ``s``."""
        if proposal_fn is not None:
            mean, std = proposal_fn(s)
            return jnp.clip(jnp.asarray(mean, jnp.float32), lo, hi), jnp.asarray(std, jnp.float32)
        # Past the plan's end nothing was planned: the mid-point, as `shift_plan` fills it.
        i = jnp.minimum(depth, horizon - 1)
        beyond = depth >= horizon
        return jnp.where(beyond, mid, pstate.mean[i]), pstate.std[i]

    def candidates(s: State, depth: Int[Array, ""], k: PRNGKeyArray) -> Float[Array, "K A"]:
        mean, std = proposal(s, depth)
        k_gauss, k_uniform, k_mix = jax.random.split(k, 3)
        shape = (cfg.num_candidates - 1, num_actions)
        gauss = jnp.clip(mean + std * jax.random.normal(k_gauss, shape), lo, hi)
        uniform = jax.random.uniform(k_uniform, shape, minval=lo, maxval=hi)
        # A coin per candidate, not a fixed count: i.i.d. draws from the mixture are what the
        # uniform prior assumes, and any subset (Gumbel MuZero's first `m`) is a fair one.
        is_uniform = jax.random.bernoulli(k_mix, cfg.uniform_fraction, (shape[0],))
        sampled = jnp.where(is_uniform[:, None], uniform, gauss)
        return jnp.concatenate([jnp.clip(mean, lo, hi)[None], sampled])

    rollout_depth = cfg.horizon if cfg.rollout_depth is None else cfg.rollout_depth

    def rollout_return(s: State, depth: Int[Array, ""], k: PRNGKeyArray) -> Float[Array, ""]:
        """``[]`` discounted return from a node at ``depth`` following the proposal's mean plus
        ``rollout_std`` noise, cut at the horizon.

        The plan is an already optimised sequence, so its return says what the leaf is worth
        to a controller that keeps planning; the return of uniform actions is mostly noise on
        a swing-up and leaves the search blind past its own few levels. Pendulum, K = 8, 16
        starts: -165 following the plan, -173 with noise of 0.1 half-ranges on it, -174
        uniform, -175 averaging 8 uniform rollouts, -958 with uniform rollouts of 5 steps."""

        def body(carry: _RolloutCarry, inputs: tuple[Array, Array]) -> tuple[_RolloutCarry, None]:
            j, k = inputs
            k_noise, k_step = jax.random.split(k)
            mean, _ = proposal(carry.state, depth + j)
            noise = cfg.rollout_std * half_range * jax.random.normal(k_noise, mean.shape)
            action = jnp.clip(mean + noise, lo, hi)
            next_state, reward, terminated = step(carry.state, action, k_step)
            counts = carry.alive & (depth + j < horizon)
            ret = carry.ret + jnp.where(counts, carry.weight * reward, 0.0)
            alive = carry.alive & ~jnp.asarray(terminated, bool)
            return _RolloutCarry(next_state, alive, carry.weight * cfg.discount, ret), None

        init = _RolloutCarry(s, jnp.array(True), jnp.float32(1.0), jnp.float32(0.0))
        steps = (jnp.arange(rollout_depth), jax.random.split(k, rollout_depth))
        final, _ = jax.lax.scan(body, init, steps)
        return final.ret

    def leaf_value(s: State, depth: Int[Array, ""], k: PRNGKeyArray) -> Float[Array, ""]:
        if terminal_value is not None:
            return jnp.asarray(terminal_value(s), jnp.float32)
        if rollout_depth == 0:
            return jnp.float32(0.0)
        keys = jax.random.split(k, cfg.num_rollouts)
        return jnp.mean(jax.vmap(lambda k: rollout_return(s, depth, k))(keys))

    def expand(node: _Node, index: Int[Array, ""], k: PRNGKeyArray):
        k_step, k_value, k_candidates = jax.random.split(k, 3)
        action = node.candidates[index]
        next_state, reward, terminated = step(node.state, action, k_step)
        done = node.done | jnp.asarray(terminated, bool)
        depth = node.depth + 1
        # Past a termination nothing is earned; `where` also keeps a model's output on states
        # it was never meant to see out of the search's statistics.
        out = mctx.RecurrentFnOutput(
            reward=jnp.where(node.done, 0.0, reward).astype(jnp.float32),
            discount=jnp.where(done, 0.0, cfg.discount).astype(jnp.float32),
            prior_logits=jnp.zeros((cfg.num_candidates,), jnp.float32),
            value=jnp.where(done, 0.0, leaf_value(next_state, depth, k_value)),
        )
        return out, _Node(next_state, done, depth, candidates(next_state, depth, k_candidates))

    def recurrent_fn(params, k, index, nodes):
        del params  # the model is closed over in `step`
        return jax.vmap(expand)(nodes, index, jax.random.split(k, index.shape[0]))

    k_root, k_candidates, k_search = jax.random.split(key, 3)
    depth0 = jnp.int32(0)
    root_node = _Node(state, jnp.array(False), depth0, candidates(state, depth0, k_candidates))
    root = mctx.RootFnOutput(
        prior_logits=jnp.zeros((1, cfg.num_candidates), jnp.float32),
        value=leaf_value(state, depth0, k_root)[None],
        embedding=jax.tree.map(lambda x: jnp.asarray(x)[None], root_node),
    )
    if cfg.policy == "muzero":
        out = mctx.muzero_policy(
            params=(), rng_key=k_search, root=root, recurrent_fn=recurrent_fn,
            num_simulations=cfg.num_simulations, max_depth=cfg.search_depth,
            qtransform=_qtransform_completed_by_parent, dirichlet_fraction=0.0,
            pb_c_init=cfg.pb_c_init, pb_c_base=cfg.pb_c_base, temperature=0.0,
        )  # fmt: skip
    else:
        out = mctx.gumbel_muzero_policy(
            params=(), rng_key=k_search, root=root, recurrent_fn=recurrent_fn,
            num_simulations=cfg.num_simulations, max_depth=cfg.search_depth,
            max_num_considered_actions=cfg.max_num_considered_actions,
            gumbel_scale=cfg.gumbel_scale,
        )  # fmt: skip
    tree = jax.tree.map(lambda x: x[0], out.search_tree)  # the batch of one
    summary = out.search_tree.summary()
    visits, q = summary.visit_counts[0], summary.qvalues[0]
    if cfg.select == "visits" and cfg.policy == "gumbel_muzero":
        chosen = out.action[0]  # the winner of sequential halving
    elif cfg.select == "visits":
        chosen = jnp.argmax(visits)  # the first maximum: ties go to the warm start
    else:
        chosen = jnp.argmax(jnp.where(visits > 0, q, -jnp.inf))
    plan, path_depth = _most_visited_path(tree, chosen, pstate.mean)
    next_pstate = GaussianState(_rollout.shift_plan(plan, mid), pstate.std)
    info = {
        "expected_return": summary.value[0],
        "chosen_index": chosen.astype(jnp.int32),
        "chosen_q": q[chosen],
        "path_depth": path_depth,
        "visit_counts": visits,
        "q_values": q,
        "candidates": tree.embeddings.candidates[mctx.Tree.ROOT_INDEX],
    }
    return plan[0], next_pstate, info


def _qtransform_completed_by_parent(
    tree: mctx.Tree, node_index: Int[Array, ""], epsilon: float = 1e-8
) -> Float[Array, " K"]:
    """``[K]`` PUCT's Q-values: min-max normalised over the node's value and its visited
    children's Q (as mctx's default), but an unvisited child counts as the node's value.

    mctx's default counts it as the minimum, which with a learned prior is fine; with
    Sampled MuZero's uniform prior over ``K`` candidates each unvisited one gets an
    exploration bonus of only ``c_1 sqrt(N) / K``, so PUCT would keep visiting the first
    candidate that did better than the worst and never try the others (pendulum, 16 starts,
    K = 16: -301 with mctx's default, -166 with this). It still explores little once a
    candidate beats its parent's value: raise ``pb_c_init`` or prefer ``"gumbel_muzero"``."""
    q = tree.qvalues(node_index)
    visited = tree.children_visits[node_index] > 0
    node_value = tree.node_values[node_index]
    completed = jnp.where(visited, q, node_value)
    low = jnp.minimum(node_value, jnp.min(completed))
    high = jnp.maximum(node_value, jnp.max(completed))
    return (completed - low) / jnp.maximum(high - low, epsilon)


def _most_visited_path(
    tree: mctx.Tree, chosen: Int[Array, ""], old_plan: Float[Array, "H A"]
) -> tuple[Float[Array, "H A"], Int[Array, ""]]:
    """The new plan: ``chosen`` at the root, then the most visited candidate of each node down
    the tree while there is one, then the old (already shifted) plan; ``(plan [H, A], depth
    [] of the tree's part)``. ``tree`` is one search's tree (no batch axis)."""

    def follow(carry: _PathCarry, depth: Int[Array, ""]) -> tuple[_PathCarry, tuple[Array, Array]]:
        visits = tree.children_visits[carry.node]
        index = jnp.where(depth == 0, chosen, jnp.argmax(visits))
        on_path = carry.on_path & (visits[index] > 0)
        action = tree.embeddings.candidates[carry.node, index]
        node = jnp.where(on_path, tree.children_index[carry.node, index], carry.node)
        return _PathCarry(node, on_path), (action, on_path)

    init = _PathCarry(jnp.int32(mctx.Tree.ROOT_INDEX), jnp.array(True))
    _, (path, on_path) = jax.lax.scan(follow, init, jnp.arange(old_plan.shape[0]))
    plan = jnp.where(on_path[:, None], path.astype(old_plan.dtype), old_plan)
    return plan, jnp.sum(on_path.astype(jnp.int32))
