"""Tabular Dyna-Q, Dyna-Q+ and prioritized sweeping (Sutton & Barto, 2nd ed., sections 8.2-8.4).

Tabular Dyna-Q (the box on p. 164): after each real step ``(S, A, R, S')``

1. direct RL: ``Q(S, A) += alpha [R + gamma max_a Q(S', a) - Q(S, A)]`` (Q-learning);
2. model learning: ``Model(S, A) <- (R, S')`` (deterministic, last seen);
3. planning, ``n`` times: draw a previously seen ``(S, A)`` uniformly at random and apply the
   same Q-learning update to the model's ``(R, S')``.

With ``planning_steps = 0`` it is one-step tabular Q-learning. Dyna-Q+ (section 8.3) adds
``kappa sqrt(tau)`` to the modelled reward in planning, ``tau`` the number of real steps since
``(S, A)`` was last tried, and (the book's footnote) lets planning consider the actions never
tried from a visited state, modelled as leading back to that state with reward 0.

Prioritized sweeping (section 8.4, the box on p. 170) keeps the same model but plans from a
priority queue instead of uniform draws: a real step only puts ``(S, A)`` in the queue, with
priority ``|R + gamma max_a Q(S', a) - Q(S, A)|`` if that exceeds ``theta``, and each of the
``n`` planning updates takes the pair of highest priority, updates it, and queues the modelled
predecessors of its state by the same rule. The queue is a ``[S, A]`` priority array (0 = not
queued) read with ``argmax``, which keeps everything jittable; the predecessors of ``S`` are
the seen pairs whose ``model_next`` is ``S``.

Stochastic environments (``model="stochastic"``; the end of section 8.4): the last-seen model
above is then a single sampled outcome per pair, and planning with it chases whichever outcome
came last. The count-based model also keeps, per ``(S, A, S')``, how often ``(S, A)`` led to
``S'`` and the summed rewards, i.e. ``p(S' | S, A)`` and ``rbar(S, A, S')``. Dyna-Q then plans
with sample updates, drawing ``S' ~ p`` and ``R = rbar``; prioritized sweeping uses expected
updates, ``Q(S, A) += alpha [sum_S' p(S' | S, A) (rbar + gamma max_a Q(S', a)) - Q(S, A)]``,
for the queue's top pair and for the priorities, and the predecessors of ``S`` are the pairs
with a count into ``S``.

Actions are epsilon-greedy with ties broken at random, which matters early on when the whole Q
table is 0: a fixed tie-break (``argmax``) walks into walls and the curves of Figure 8.2 change.

Everything is pure JAX; :mod:`mbrlax.agents.dyna.book` runs the book's maze experiments as
compiled loops of these functions, and :class:`mbrlax.agents.dyna.agent.DynaAgent` is the
agent the runner drives. Terminal states are never acted from, so their Q values stay 0 and
bootstrapping from them adds nothing.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

Model = Literal["deterministic", "stochastic"]
MODELS: tuple[str, ...] = typing.get_args(Model)
"""The tabular models: last-seen ``(s, a) -> (r, s')``, or transition counts (section 8.4)."""


def _check_shared(cfg: DynaQ | PrioritizedSweeping) -> None:
    """Validate the fields both tabular configs have; raises ``ValueError`` naming the field."""
    name = type(cfg).__name__
    if not 0 < cfg.alpha <= 1:
        raise ValueError(f"{name}.alpha must be in (0, 1], got {cfg.alpha!r}.")
    if not 0 <= cfg.gamma <= 1:
        raise ValueError(f"{name}.gamma must be in [0, 1], got {cfg.gamma!r}.")
    if not 0 <= cfg.epsilon <= 1:
        raise ValueError(f"{name}.epsilon must be in [0, 1], got {cfg.epsilon!r}.")
    if not (isinstance(cfg.max_episode_steps, int) and cfg.max_episode_steps >= 1):
        raise ValueError(
            f"{name}.max_episode_steps must be an int >= 1, got {cfg.max_episode_steps!r}."
        )
    if cfg.model not in MODELS:
        raise ValueError(f"{name}.model must be one of {MODELS}, got {cfg.model!r}.")


@dataclasses.dataclass(frozen=True)
class DynaQ:
    """Hyperparameters of tabular Dyna-Q / Dyna-Q+ (defaults: Example 8.1 with ``n = 5``).

    Attributes:
        alpha: step size of the Q-learning updates, in ``(0, 1]``.
        gamma: discount in ``[0, 1]``.
        epsilon: probability of a uniformly random action, in ``[0, 1]``.
        planning_steps: ``n``, model updates per real step; 0 is plain Q-learning.
        kappa: Dyna-Q+ exploration bonus weight (``kappa sqrt(tau)`` added in planning);
            0 (the default) is plain Dyna-Q.
        max_episode_steps: real steps after which an episode is cut off (it bounds the
            ``while_loop``; the cut-off episode is reported with this many steps).
        model: ``"deterministic"`` (the last-seen ``(r, s')`` per pair, the book's box) or
            ``"stochastic"`` (counts of ``(s, a, s')`` and summed rewards, for environments
            whose next state is random; planning then draws ``s'`` from the counts).
    """

    alpha: float = 0.1
    gamma: float = 0.95
    epsilon: float = 0.1
    planning_steps: int = 5
    kappa: float = 0.0
    max_episode_steps: int = 10_000
    model: Model = "deterministic"

    def __post_init__(self) -> None:
        _check_shared(self)
        if not (isinstance(self.planning_steps, int) and self.planning_steps >= 0):
            raise ValueError(
                f"DynaQ.planning_steps must be an int >= 0, got {self.planning_steps!r}."
            )
        if not self.kappa >= 0:
            raise ValueError(f"DynaQ.kappa must be >= 0 (0 is plain Dyna-Q), got {self.kappa!r}.")


@dataclasses.dataclass(frozen=True)
class PrioritizedSweeping:
    """Hyperparameters of tabular prioritized sweeping (defaults: Example 8.4's settings).

    Attributes:
        alpha: step size of the Q-learning updates, in ``(0, 1]``.
        gamma: discount in ``[0, 1]``.
        epsilon: probability of a uniformly random action, in ``[0, 1]``.
        planning_steps: ``n``, the most updates per real step (fewer when the queue empties).
        theta: a pair enters the queue only if its priority (the size of its Q-learning
            error) exceeds ``theta``, ``>= 0``.
        max_episode_steps: real steps after which an episode is cut off.
        model: ``"deterministic"`` (the last-seen ``(r, s')`` per pair, the book's box) or
            ``"stochastic"`` (counts of ``(s, a, s')`` and summed rewards, for environments
            whose next state is random; the sweeps then make expected updates).
    """

    alpha: float = 0.5
    gamma: float = 0.95
    epsilon: float = 0.1
    planning_steps: int = 5
    theta: float = 1e-4
    max_episode_steps: int = 10_000
    model: Model = "deterministic"

    def __post_init__(self) -> None:
        _check_shared(self)
        if not (isinstance(self.planning_steps, int) and self.planning_steps >= 1):
            raise ValueError(
                "PrioritizedSweeping.planning_steps must be an int >= 1 (all its updates are "
                f"planning updates), got {self.planning_steps!r}."
            )
        if not self.theta >= 0:
            raise ValueError(f"PrioritizedSweeping.theta must be >= 0, got {self.theta!r}.")


Config = DynaQ | PrioritizedSweeping
"""The agents of this module; :func:`learn` picks the algorithm from the config's type."""


class DynaQState(NamedTuple):
    """The agent: value table, tabular model and the bookkeeping of Dyna-Q+.

    Attributes:
        q: ``[S, A]`` action values.
        model_next: ``[S, A]`` int32, the last next state seen after ``(s, a)``.
        model_reward: ``[S, A]`` the last reward seen after ``(s, a)``.
        seen: ``[S, A]`` whether ``(s, a)`` is in the model (may be drawn in planning).
        seen_pairs: ``[S A]`` int32, the flat indices ``s A + a`` of the seen pairs in the
            order they entered the model, in the first ``num_seen`` entries: planning draws
            one of those uniformly with a single ``randint``, far cheaper than a categorical
            over all ``[S, A]`` per update.
        num_seen: ``[]`` int32, the number of seen pairs.
        last_tried: ``[S, A]`` int32, the real step at which ``(s, a)`` was last taken.
        priority: ``[S, A]`` the prioritized-sweeping queue: a pair's priority, 0 when it is
            not queued (unused by Dyna-Q).
        step: ``[]`` int32, real steps taken so far (over all episodes).
        updates: ``[]`` int32, Q-learning updates made so far, direct and planning.
        counts: ``[S, A, S]`` int32, how many times ``(s, a)`` led to ``s'`` (the stochastic
            model); ``[S, A, 0]`` with the deterministic model.
        reward_sum: ``[S, A, S]`` the summed rewards of those transitions, so that
            ``rbar(s, a, s') = reward_sum / counts``; ``[S, A, 0]`` with the deterministic model.
    """

    q: Float[Array, "S A"]
    model_next: Int[Array, "S A"]
    model_reward: Float[Array, "S A"]
    seen: Bool[Array, "S A"]
    seen_pairs: Int[Array, " SA"]
    num_seen: Int[Array, ""]
    last_tried: Int[Array, "S A"]
    priority: Float[Array, "S A"]
    step: Int[Array, ""]
    updates: Int[Array, ""]
    counts: Int[Array, "S A S2"]
    reward_sum: Float[Array, "S A S2"]


def init(num_states: int, num_actions: int, model: Model = "deterministic") -> DynaQState:
    """An agent knowing nothing: ``Q = 0``, empty model, every table ``[S, A]``.

    ``model`` is the config's: ``"stochastic"`` allocates the ``[S, A, S]`` count tables,
    ``"deterministic"`` leaves them ``[S, A, 0]``.
    """
    if model not in MODELS:
        raise ValueError(f"init: model must be one of {MODELS}, got {model!r}.")
    shape = (num_states, num_actions)
    outcomes = (*shape, num_states if model == "stochastic" else 0)
    return DynaQState(
        q=jnp.zeros(shape, jnp.float32),
        model_next=jnp.zeros(shape, jnp.int32),
        model_reward=jnp.zeros(shape, jnp.float32),
        seen=jnp.zeros(shape, bool),
        seen_pairs=jnp.zeros(num_states * num_actions, jnp.int32),
        num_seen=jnp.int32(0),
        last_tried=jnp.zeros(shape, jnp.int32),
        priority=jnp.zeros(shape, jnp.float32),
        step=jnp.int32(0),
        updates=jnp.int32(0),
        counts=jnp.zeros(outcomes, jnp.int32),
        reward_sum=jnp.zeros(outcomes, jnp.float32),
    )


def greedy_action(q_row: Float[Array, " A"], key: PRNGKeyArray) -> Int[Array, ""]:
    """An action of highest value, uniformly at random among ties."""
    logits = jnp.where(q_row == q_row.max(), 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def epsilon_greedy(q_row: Float[Array, " A"], epsilon: float, key: PRNGKeyArray) -> Int[Array, ""]:
    """With probability ``epsilon`` a uniform action, otherwise :func:`greedy_action`."""
    explore_key, random_key, greedy_key = jax.random.split(key, 3)
    random_action = jax.random.randint(random_key, (), 0, q_row.shape[0], dtype=jnp.int32)
    explore = jax.random.uniform(explore_key) < epsilon
    return jnp.where(explore, random_action, greedy_action(q_row, greedy_key))


def q_learning_update(
    q: Float[Array, "S A"],
    s: Int[Array, ""],
    a: Int[Array, ""],
    r: Float[Array, ""],
    s_next: Int[Array, ""],
    terminated: Bool[Array, ""],
    alpha: float,
    gamma: float,
) -> Float[Array, "S A"]:
    """``Q(s, a) += alpha [r + gamma max_a' Q(s', a') (1 - terminated) - Q(s, a)]``; ``[S, A]``."""
    bootstrap = jnp.where(terminated, 0.0, q[s_next].max())
    target = r + gamma * bootstrap
    return q.at[s, a].add(alpha * (target - q[s, a]))


def update_model(
    config: Config,
    agent: DynaQState,
    s: Int[Array, ""],
    a: Int[Array, ""],
    r: Float[Array, ""],
    s_next: Int[Array, ""],
) -> DynaQState:
    """Record ``Model(s, a) <- (r, s')`` and that ``(s, a)`` was tried at ``agent.step``.

    The stochastic model also counts ``(s, a, s')`` and adds ``r`` to its reward sum; the
    last-seen tables are kept in both models (they list the seen pairs for planning).

    For Dyna-Q+ (``kappa > 0``), a state seen for the first time also gets its other actions
    into the model as leading back to ``s`` with reward 0 (the book's footnote on p. 168).
    """
    num_actions = agent.q.shape[1]
    model_next, model_reward = agent.model_next, agent.model_reward
    seen, seen_pairs, num_seen = agent.seen, agent.seen_pairs, agent.num_seen
    if isinstance(config, DynaQ) and config.kappa > 0:
        # A new state's actions all enter the model at once, so (s, a) is then already seen.
        new_state = ~seen[s].any()
        model_next = model_next.at[s].set(jnp.where(new_state, s, model_next[s]))
        model_reward = model_reward.at[s].set(jnp.where(new_state, 0.0, model_reward[s]))
        seen = seen.at[s].set(True)
        pairs = s * num_actions + jnp.arange(num_actions, dtype=jnp.int32)
        appended = jax.lax.dynamic_update_slice(seen_pairs, pairs, (num_seen,))
        seen_pairs = jnp.where(new_state, appended, seen_pairs)
        num_seen = num_seen + jnp.where(new_state, num_actions, 0)
    new_pair = ~seen[s, a]
    size = seen_pairs.shape[0]
    seen_pairs = seen_pairs.at[jnp.where(new_pair, num_seen, size)].set(
        s * num_actions + a, mode="drop"
    )
    counts, reward_sum = agent.counts, agent.reward_sum
    if config.model == "stochastic":
        counts = counts.at[s, a, s_next].add(1)
        reward_sum = reward_sum.at[s, a, s_next].add(r)
    return agent._replace(
        model_next=model_next.at[s, a].set(s_next),
        model_reward=model_reward.at[s, a].set(r),
        seen=seen.at[s, a].set(True),
        seen_pairs=seen_pairs,
        num_seen=num_seen + new_pair.astype(jnp.int32),
        last_tried=agent.last_tried.at[s, a].set(agent.step),
        counts=counts,
        reward_sum=reward_sum,
    )


def sample_outcome(
    agent: DynaQState, s: Int[Array, ""], a: Int[Array, ""], key: PRNGKeyArray
) -> tuple[Float[Array, ""], Int[Array, ""]]:
    """A modelled ``(r, s')`` of ``(s, a)`` from the stochastic model: ``s' ~ p(. | s, a)``.

    ``r = rbar(s, a, s')``. A pair in the model but never taken (Dyna-Q+'s untried actions)
    has no counts and gets its last-seen entry, ``(0, s)``.
    """
    counts = agent.counts[s, a]
    tried = counts.sum() > 0
    drawn = jax.random.categorical(key, jnp.log(counts.astype(jnp.float32))).astype(jnp.int32)
    s_next = jnp.where(tried, drawn, agent.model_next[s, a])
    mean_reward = agent.reward_sum[s, a, s_next] / jnp.maximum(counts[s_next], 1)
    return jnp.where(tried, mean_reward, agent.model_reward[s, a]), s_next


def expected_target(agent: DynaQState, q: Float[Array, "S A"], gamma: float) -> Float[Array, "S A"]:
    """``sum_s' p(s' | s, a) [rbar(s, a, s') + gamma max_a' q(s', a')]`` for every pair; ``[S, A]``.

    From the stochastic model's counts; 0 for pairs never taken. Since ``p rbar`` is
    ``reward_sum / n(s, a)``, it is ``(sum_s' reward_sum + gamma counts @ max_a' q) / n(s, a)``.
    """
    visits = agent.counts.sum(axis=-1)
    total = agent.reward_sum.sum(axis=-1) + gamma * (agent.counts.astype(jnp.float32) @ q.max(1))
    return total / jnp.maximum(visits, 1)


def plan(config: DynaQ, agent: DynaQState, key: PRNGKeyArray) -> DynaQState:
    """``planning_steps`` Q-learning updates on ``(s, a)`` drawn uniformly from the model.

    The deterministic model gives each pair's last-seen ``(r, s')``; the stochastic one a
    fresh :func:`sample_outcome` per update. The agent must have seen at least one ``(s, a)``.
    """
    num_actions = agent.q.shape[1]
    stochastic = config.model == "stochastic"
    if stochastic:  # the deterministic model keeps the whole key for the draws (same numbers)
        key, outcome_key = jax.random.split(key)
        outcome_keys = jax.random.split(outcome_key, config.planning_steps)
    draws = jax.random.randint(key, (config.planning_steps,), 0, agent.num_seen)
    indices = agent.seen_pairs[draws]

    def one_update(i: Int[Array, ""], q: Float[Array, "S A"]) -> Float[Array, "S A"]:
        s, a = indices[i] // num_actions, indices[i] % num_actions
        if stochastic:
            r, s_next = sample_outcome(agent, s, a, outcome_keys[i])
        else:
            r, s_next = agent.model_reward[s, a], agent.model_next[s, a]
        if config.kappa > 0:
            tau = (agent.step - agent.last_tried[s, a]).astype(jnp.float32)
            r = r + config.kappa * jnp.sqrt(tau)
        return q_learning_update(q, s, a, r, s_next, jnp.array(False), config.alpha, config.gamma)

    return agent._replace(q=jax.lax.fori_loop(0, config.planning_steps, one_update, agent.q))


def queue(
    priority: Float[Array, "S A"], error: Float[Array, "S A"], theta: float
) -> Float[Array, "S A"]:
    """Insert every pair whose ``|error|`` exceeds ``theta``, keeping the larger priority.

    A pair already queued keeps one entry, as with a heap that updates a key in place.
    """
    size = jnp.abs(error)
    return jnp.where(size > theta, jnp.maximum(priority, size), priority)


def sweep(config: PrioritizedSweeping, agent: DynaQState) -> DynaQState:
    """Up to ``planning_steps`` updates of the queue's top pair, queueing its predecessors.

    Stops early (the remaining iterations are no-ops) once the queue is empty; ``updates``
    counts the updates actually made. The deterministic model makes sample updates, the
    stochastic one expected updates (:func:`expected_target`), both for ``Q`` and priorities.
    """

    def one_update(_: Int[Array, ""], agent: DynaQState) -> DynaQState:
        flat = jnp.argmax(agent.priority)
        s, a = jnp.unravel_index(flat, agent.priority.shape)
        active = agent.priority[s, a] > 0
        if config.model == "stochastic":
            target = expected_target(agent, agent.q, config.gamma)[s, a]
            updated = agent.q.at[s, a].add(config.alpha * (target - agent.q[s, a]))
        else:
            r, s_next = agent.model_reward[s, a], agent.model_next[s, a]
            updated = q_learning_update(
                agent.q, s, a, r, s_next, jnp.array(False), config.alpha, config.gamma
            )
        q = jnp.where(active, updated, agent.q)
        priority = agent.priority.at[s, a].set(0.0)
        if config.model == "stochastic":
            # Predecessors of s: every pair that has led to s at least once.
            targets = expected_target(agent, q, config.gamma)
            error = jnp.where(agent.counts[:, :, s] > 0, targets - q, 0.0)
        else:
            # Predecessors of s: every seen pair the model sends to s.
            targets = agent.model_reward + config.gamma * q[s].max()
            error = jnp.where(agent.seen & (agent.model_next == s), targets - q, 0.0)
        priority = jnp.where(active, queue(priority, error, config.theta), agent.priority)
        return agent._replace(
            q=q, priority=priority, updates=agent.updates + active.astype(jnp.int32)
        )

    return jax.lax.fori_loop(0, config.planning_steps, one_update, agent)


def learn_prioritized(
    config: PrioritizedSweeping,
    agent: DynaQState,
    s: Int[Array, ""],
    a: Int[Array, ""],
    r: Float[Array, ""],
    s_next: Int[Array, ""],
    terminated: Bool[Array, ""],
) -> DynaQState:
    """One real step of prioritized sweeping: model learning, queue ``(s, a)``, sweep.

    There is no direct update: ``Q(s, a)`` changes only when the sweep takes it from the queue.
    With the stochastic model the priority is the expected error of ``(s, a)`` under the
    updated counts (a terminal ``s'`` bootstraps from its Q row, which stays 0).
    """
    agent = update_model(config, agent, s, a, r, s_next)
    if config.model == "stochastic":
        target = expected_target(agent, agent.q, config.gamma)[s, a]
    else:
        bootstrap = jnp.where(terminated, 0.0, agent.q[s_next].max())
        target = r + config.gamma * bootstrap
    error = jnp.zeros_like(agent.q).at[s, a].set(target - agent.q[s, a])
    agent = agent._replace(priority=queue(agent.priority, error, config.theta))
    return sweep(config, agent)._replace(step=agent.step + 1)


def learn(
    config: Config,
    agent: DynaQState,
    s: Int[Array, ""],
    a: Int[Array, ""],
    r: Float[Array, ""],
    s_next: Int[Array, ""],
    terminated: Bool[Array, ""],
    key: PRNGKeyArray,
) -> DynaQState:
    """One real step of the agent ``config`` names (Dyna-Q(+) or prioritized sweeping)."""
    if isinstance(config, PrioritizedSweeping):
        return learn_prioritized(config, agent, s, a, r, s_next, terminated)
    q = q_learning_update(agent.q, s, a, r, s_next, terminated, config.alpha, config.gamma)
    agent = update_model(config, agent._replace(q=q), s, a, r, s_next)
    if config.planning_steps > 0:
        agent = plan(config, agent, key)
    return agent._replace(step=agent.step + 1, updates=agent.updates + 1 + config.planning_steps)
