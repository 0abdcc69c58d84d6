"""MuZero (Schrittwieser et al., 2020): tree search through a learned, value-equivalent model.

The search is :class:`mbrlax.planners.MCTS` with the learned model as its ``step``: a node's
state is a latent ``s``, expanding it runs the dynamics ``g(s, a) -> (s', r)``, leaves are
valued and priors given by the prediction ``f(s) -> (p, v)``, and the root is ``h(o)``. The
model never terminates; it learns that nothing follows a termination from its targets (an
absorbing state: rewards and values 0).

Training unrolls the model ``K`` steps from ``h(o_t)`` along the actions taken and fits, at
each unrolled step ``k``:

    policy  CE(pi_{t+k}, p_k)       pi: the search policy at o_{t+k}
    value   (v_k - z_{t+k})^2       z = sum_{i<n} gamma^i u_{t+k+i} + gamma^n v'(o_{t+k+n})
    reward  (r_k - u_{t+k})^2       u: the reward the env gave

with the gradient into each dynamics step halved and the unrolled steps' losses weighted
``1 / K`` (the paper's choices). Search policies are recomputed at learning time by a fresh
search through the current model with the target networks (MuZero Reanalyse, Schrittwieser et
al., 2021, with reanalyse fraction 1): the runner's buffer holds transitions only, and fresh
targets never go stale. ``v'`` is the target networks' value (``bootstrap="network"``) or
the value of that fresh search (``bootstrap="search"``). Episode ends are read from the
buffer: past a termination the targets are those of the absorbing state; past a time-limit
truncation (or the newest transition) the unrolled steps are left out of the loss, and the
n-step return bootstraps from the last observation it has.

Metrics (``agent/...`` in a run's ``metrics.csv``): ``policy_loss``, ``value_loss``,
``reward_loss`` and ``entropy`` (the prior's).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.agents.base import polyak, scan_updates
from mbrlax.agents.muzero.networks import (
    MuZeroNets,
    dynamics,
    init_muzero_nets,
    predict,
    represent,
    scale_gradient,
)
from mbrlax.agents.search import GuidedSearch
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec
from mbrlax.planners import MCTS, Planner


@dataclasses.dataclass(frozen=True)
class MuZeroConfig:
    """MuZero hyper-parameters.

    Attributes:
        search: the MCTS of training episodes (its ``discount`` is the agent's; leaves are
            valued by the network, so ``rollout_depth`` is ignored). Evaluation episodes use
            it without Dirichlet noise and with temperature 0.
        reanalyse_simulations: simulations of the searches that make the policy targets; at
            least the number of actions, so that Gumbel MuZero's search values each of them
            (with fewer, the targets are noisy enough to keep the learned model from fitting
            multi-step rewards on a 6-cell chain, where 4 simulations for 2 actions fit them).
        reanalyse_policy: their root policy. ``"gumbel_muzero"`` (default) trains toward
            Gumbel MuZero's improved policy ``softmax(logits + sigma(q))``, which moves the
            prior only where the search's values differ; visit counts (``"muzero"``) of a
            few simulations follow the prior, and a model that cannot yet tell the actions
            apart then trains its prior to always pick one.
        latent_dim: size of the latent state.
        hidden_sizes: hidden layer widths of each of the three networks.
        unroll_steps: ``K``, model steps unrolled per training sequence.
        td_steps: ``n`` of the n-step value targets.
        bootstrap: what values the state ``n`` steps on: ``"network"`` (the target
            networks' ``f(h(o))``) or ``"search"`` (a fresh search's root value; costs one
            more search per position).
        learning_rate: Adam step size.
        weight_decay: decoupled weight decay (AdamW), the paper's L2 term.
        max_grad_norm: gradients are clipped to this global norm.
        batch_size: training sequences per gradient step.
        updates_per_step: gradient steps per ``update`` call (the runner calls it every
            ``refit_every`` env steps), made as one compiled call.
        value_scale: values are predicted divided by this (about the largest return).
        reward_scale: rewards are predicted divided by this (about the largest reward).
        value_weight: weight of the value loss. The paper's 0.25 (with reanalyse) weighs a
            cross-entropy over a categorical value; this scalar squared error needs 1 (at
            0.25 on CartPole the policy loss alone shaped the latent state, which then ignored
            the observation).
        target_tau: Polyak rate of the target networks (1: the online networks).
    """

    search: MCTS = MCTS(num_simulations=16, discount=0.99, dirichlet_fraction=0.25, temperature=1.0)
    reanalyse_simulations: int = 8
    reanalyse_policy: Literal["muzero", "gumbel_muzero"] = "gumbel_muzero"
    latent_dim: int = 64
    hidden_sizes: tuple[int, ...] = (64, 64)
    unroll_steps: int = 5
    td_steps: int = 10
    bootstrap: Literal["network", "search"] = "network"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_grad_norm: float = 5.0
    batch_size: int = 64
    updates_per_step: int = 1
    value_scale: float = 1.0
    reward_scale: float = 1.0
    value_weight: float = 1.0
    target_tau: float = 0.1

    def __post_init__(self):
        if not isinstance(self.search, MCTS):
            raise ValueError(f"MuZero searches with MCTS; got search={type(self.search).__name__}.")
        for name in (
            "reanalyse_simulations", "latent_dim", "unroll_steps", "td_steps", "batch_size",
            "updates_per_step",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MuZeroConfig.{name} must be an int >= 1, got {value!r}.")
        if self.reanalyse_policy not in ("muzero", "gumbel_muzero"):
            raise ValueError(
                "MuZeroConfig.reanalyse_policy must be 'muzero' or 'gumbel_muzero', got "
                f"{self.reanalyse_policy!r}."
            )
        if self.bootstrap not in ("network", "search"):
            raise ValueError(
                f"MuZeroConfig.bootstrap must be 'network' or 'search', got {self.bootstrap!r}."
            )
        for name in (
            "learning_rate", "max_grad_norm", "value_scale", "reward_scale", "value_weight"
        ):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"MuZeroConfig.{name} must be > 0, got {getattr(self, name)}.")
        if self.weight_decay < 0:
            raise ValueError(f"MuZeroConfig.weight_decay must be >= 0, got {self.weight_decay}.")
        if not 0.0 < self.target_tau <= 1.0:
            raise ValueError(f"MuZeroConfig.target_tau must be in (0, 1], got {self.target_tau}.")


class MuZeroState(NamedTuple):
    """Everything MuZero learns, as a pytree of arrays.

    Attributes:
        nets: representation, dynamics and prediction networks.
        target_nets: their Polyak-averaged copies (reanalyse and bootstrap values).
        opt_state: optimiser state of ``nets``.
        updates: ``[]`` int32, gradient steps made so far.
    """

    nets: MuZeroNets
    target_nets: MuZeroNets
    opt_state: optax.OptState
    updates: Int[Array, ""]


class SequenceTargets(NamedTuple):
    """Training targets of one sequence of ``K + 1`` positions.

    Attributes:
        obs: ``[d]`` the first observation, which ``h`` embeds.
        actions: ``[K]`` the actions the model is unrolled along.
        rewards: ``[K]`` reward targets of the unrolled steps.
        values: ``[K + 1]`` value targets ``z``.
        policies: ``[K + 1, N]`` search policy targets.
        reward_mask: ``[K]`` which reward targets are known.
        value_mask: ``[K + 1]`` which value targets are known.
        policy_mask: ``[K + 1]`` which policy targets are known (positions of the episode).
    """

    obs: Float[Array, " d"]
    actions: Int[Array, " K"]
    rewards: Float[Array, " K"]
    values: Float[Array, " K1"]
    policies: Float[Array, "K1 N"]
    reward_mask: Bool[Array, " K"]
    value_mask: Bool[Array, " K1"]
    policy_mask: Bool[Array, " K1"]


@dataclasses.dataclass(frozen=True)
class MuZero(GuidedSearch):
    """MuZero on a Discrete-action env with vector observations (see the module docstring).

    Static and hashable: ``act`` and ``update`` compile once.
    """

    config: MuZeroConfig
    spec: EnvSpec

    def __post_init__(self):
        if self.spec.is_continuous:
            raise ValueError(
                f"MuZero searches over discrete actions but {self.spec.env_id} has Box "
                "actions; plan them with `mbrlax train mpc` (agent.planner:sampled-mcts, "
                "agent.planner:cem) or learn a policy with `mbrlax train sac` or `mbpo`."
            )
        if self.spec.is_tabular:
            raise ValueError(
                f"MuZero's networks take vector observations but {self.spec.env_id} has "
                f"discrete ones ({self.spec.num_states} states); use `mbrlax train dyna-q`, "
                "or give the env one-hot Box observations."
            )

    @functools.cached_property
    def _optimizer(self) -> optax.GradientTransformation:
        c = self.config
        return optax.chain(
            optax.clip_by_global_norm(c.max_grad_norm),
            optax.adamw(c.learning_rate, weight_decay=c.weight_decay),
        )

    def guide(self, state: MuZeroState) -> MuZeroNets:
        return state.nets

    @functools.cached_property
    def _reanalyse_search(self) -> MCTS:
        c = self.config
        return dataclasses.replace(
            self._greedy_search,
            num_simulations=c.reanalyse_simulations,
            policy=c.reanalyse_policy,
            max_num_considered_actions=self.num_actions,
        )

    def model_step(self, nets: MuZeroNets):
        """The learned model as a planner's ``step(latent, action, key) -> (latent', r, done)``
        (it never terminates)."""
        n, scale = self.num_actions, self.config.reward_scale

        def step(latent, action, key):
            del key  # a deterministic model
            next_latent, reward = dynamics(nets, latent, action, n, scale)
            return next_latent, reward, jnp.array(False)

        return step

    def planner(self, nets: MuZeroNets, search: MCTS) -> Planner:
        """``search`` over latent states, guided by ``f``."""
        scale = self.config.value_scale
        return search.build(
            self.num_actions,
            value_fn=lambda s: predict(nets, s, scale)[1],
            prior_fn=lambda s: predict(nets, s, scale)[0],
        )

    def search(
        self, nets: MuZeroNets, search: MCTS, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], dict[str, Array]]:
        """One search from ``h(obs)``: ``(action [], info)`` (see MCTS)."""
        planner = self.planner(nets, search)
        root = represent(nets, obs)
        action, _, info = planner.plan(planner.init(), self.model_step(nets), root, key)
        return action, info

    def init(self, key: PRNGKeyArray) -> MuZeroState:
        """Fresh networks (the targets copies) and optimiser."""
        c = self.config
        nets = init_muzero_nets(
            key, self.spec.obs_dim, self.num_actions, c.latent_dim, c.hidden_sizes
        )
        return MuZeroState(
            nets=nets,
            target_nets=jax.tree.map(jnp.copy, nets),
            opt_state=self._optimizer.init(nets),
            updates=jnp.int32(0),
        )

    def sequence_targets(
        self, target_nets: MuZeroNets, buffer: ReplayBuffer, start: Int[Array, ""], key
    ) -> SequenceTargets:
        """The targets of the sequence whose first transition is the ``start``-th oldest
        of ``buffer`` (see the module docstring for episode ends)."""
        c = self.config
        K, n, gamma = c.unroll_steps, c.td_steps, c.search.discount
        rows_needed = K + n
        origin = jnp.where(buffer.size == buffer.capacity, buffer.ptr, 0)
        age = start + jnp.arange(rows_needed)
        tr: Transition = jax.tree.map(lambda d: d[(origin + age) % buffer.capacity], buffer.data)
        exists = age < buffer.size
        term = tr.terminated.astype(bool)
        obs = tr.obs.reshape(rows_needed, -1)
        next_obs = tr.next_obs.reshape(rows_needed, -1)
        # A row continues the sequence if it starts where the previous one ended, and that one
        # did not terminate; the first row where this fails ends the sequence for good.
        follows = jnp.all(obs[1:] == next_obs[:-1], axis=-1) & ~term[:-1]
        valid = jnp.cumprod(exists & jnp.concatenate([jnp.array([True]), follows])).astype(bool)
        length = jnp.sum(valid)  # rows 0 .. length - 1 are the sequence's
        ended = jnp.any(valid & term)  # its last row terminated: afterwards, absorbing
        absorbed = ~valid & ended

        k_search, k_boot, k_pad = jax.random.split(key, 3)
        # Values of the observation after each row (0 after a termination).
        if c.bootstrap == "search":
            keys = jax.random.split(k_boot, rows_needed)
            _, info = jax.vmap(lambda o, k: self.search(target_nets, self._reanalyse_search, o, k))(
                tr.next_obs, keys
            )
            next_value = info["expected_return"]
        else:
            next_value = jax.vmap(
                lambda o: predict(target_nets, represent(target_nets, o), c.value_scale)[1]
            )(tr.next_obs)
        next_value = jnp.where(term, 0.0, next_value)

        def n_step_return(k: Int[Array, ""]) -> Float[Array, ""]:
            steps = jnp.clip(length - k, 0, n)  # rows of the sequence from k on, at most n
            i = jnp.arange(n)
            rewards = jnp.take(tr.reward, k + i, mode="clip")
            ret = jnp.sum(jnp.where(i < steps, gamma**i * rewards, 0.0))
            last = jnp.take(next_value, k + steps - 1, mode="clip")
            return ret + jnp.where(steps > 0, gamma**steps * last, 0.0)

        positions = jnp.arange(K + 1)
        values = jax.vmap(n_step_return)(positions)
        values = jnp.where(valid[: K + 1], values, 0.0)  # absorbing: 0
        keys = jax.random.split(k_search, K + 1)
        _, info = jax.vmap(lambda o, k: self.search(target_nets, self._reanalyse_search, o, k))(
            tr.obs[: K + 1], keys
        )
        # Past the sequence the model is unrolled along random actions (the paper's padding).
        pad = jax.random.randint(k_pad, (K,), 0, self.num_actions, dtype=jnp.int32)
        actions = jnp.where(valid[:K], tr.action[:K].astype(jnp.int32), pad)
        return SequenceTargets(
            obs=tr.obs[0],
            actions=actions,
            rewards=jnp.where(valid[:K], tr.reward[:K], 0.0),
            values=values,
            policies=info["action_weights"],
            reward_mask=(valid | absorbed)[:K],
            value_mask=(valid | absorbed)[: K + 1],
            policy_mask=valid[: K + 1],
        )

    def loss(
        self, nets: MuZeroNets, targets: SequenceTargets
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """MuZero's loss on a batch of sequences (leaves ``[B, ...]``); ``(loss, metrics)``."""
        c = self.config
        K = c.unroll_steps
        # The first position counts 1, each unrolled one 1 / K.
        weights = jnp.concatenate([jnp.ones(1), jnp.full(K, 1.0 / K)])

        def one(t: SequenceTargets):
            latent = represent(nets, t.obs)

            def body(latent, k):
                logits, value = predict(nets, latent, 1.0)
                action = jnp.take(t.actions, k, mode="clip")
                next_latent, reward = dynamics(nets, latent, action, self.num_actions, 1.0)
                return scale_gradient(next_latent, 0.5), (logits, value, reward)

            _, (logits, value, reward) = jax.lax.scan(body, latent, jnp.arange(K + 1))
            policy_l = optax.softmax_cross_entropy(logits, t.policies) * t.policy_mask
            value_l = (value - t.values / c.value_scale) ** 2 * t.value_mask
            reward_l = (reward[:K] - t.rewards / c.reward_scale) ** 2 * t.reward_mask
            probs = jax.nn.softmax(logits[0])
            entropy = -jnp.sum(probs * jax.nn.log_softmax(logits[0]))
            return (
                jnp.sum(weights * policy_l),
                jnp.sum(weights * value_l),
                jnp.sum(weights[1:] * reward_l),
                entropy,
            )

        policy_l, value_l, reward_l, entropy = jax.vmap(one)(targets)
        policy_l, value_l, reward_l = policy_l.mean(), value_l.mean(), reward_l.mean()
        total = policy_l + c.value_weight * value_l + reward_l
        metrics = {
            "policy_loss": policy_l,
            "value_loss": value_l,
            "reward_loss": reward_l,
            "entropy": entropy.mean(),
        }
        return total, metrics

    def update_step(
        self, state: MuZeroState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[MuZeroState, dict[str, Float[Array, ""]]]:
        """One gradient step on a batch of reanalysed sequences of the buffer."""
        c = self.config
        k_start, k_targets = jax.random.split(key)
        starts = jax.random.randint(k_start, (c.batch_size,), 0, jnp.maximum(buffer.size, 1))
        keys = jax.random.split(k_targets, c.batch_size)
        targets = jax.vmap(lambda s, k: self.sequence_targets(state.target_nets, buffer, s, k))(
            starts, keys
        )
        targets = jax.lax.stop_gradient(targets)
        (_, metrics), grads = jax.value_and_grad(self.loss, has_aux=True)(state.nets, targets)
        updates, opt_state = self._optimizer.update(grads, state.opt_state, state.nets)
        nets = optax.apply_updates(state.nets, updates)
        target_nets = polyak(state.target_nets, nets, c.target_tau)
        return MuZeroState(nets, target_nets, opt_state, state.updates + 1), metrics

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: MuZeroState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[MuZeroState, dict[str, Array]]:
        """``updates_per_step`` gradient steps in one compiled call; metrics averaged."""

        return scan_updates(self.update_step, state, buffer, key, self.config.updates_per_step)

    def unroll(
        self, nets: MuZeroNets, obs: Float[Array, " d"], actions: Int[Array, " T"]
    ) -> tuple[Float[Array, " T"], Float[Array, " T1"]]:
        """The model's ``(rewards [T], values [T + 1])`` along ``actions`` from ``h(obs)``:
        what it predicts an episode will bring, to compare with what the env gave."""
        c = self.config

        def body(latent, action):
            value = predict(nets, latent, c.value_scale)[1]
            latent, reward = dynamics(nets, latent, action, self.num_actions, c.reward_scale)
            return latent, (reward, value)

        last, (rewards, values) = jax.lax.scan(body, represent(nets, obs), actions)
        final = predict(nets, last, c.value_scale)[1]
        return rewards, jnp.concatenate([values, final[None]])
