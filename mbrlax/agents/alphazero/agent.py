"""AlphaZero (Silver et al., 2018) for single-agent envs with a known model.

The model is a JAX-native env (the simulator); a policy-value network ``f(o) = (p, v)``
guides MCTS (:class:`mbrlax.planners.MCTS`): ``p`` is PUCT's prior, ``v`` values the leaves,
so no random rollouts are needed. The network learns from search statistics:

    L = CE(pi_search(s), p(s)) + c (v(s) - z(s))^2

where ``pi_search`` is the search's policy (visit counts, or Gumbel MuZero's improved policy)
and ``z`` the search's value of ``s``. Both targets are recomputed by a fresh search with the
current (target) network at learning time on states drawn from the replay buffer:
*reanalyse* (Schrittwieser et al., 2021). With a known model that search is exact up to its
leaf values, so its value is a multi-step Bellman backup of ``v`` (fitted value iteration
through the tree), and fresh targets never go stale; the runner's buffer needs to hold
nothing but transitions. Training episodes act by a search with Dirichlet noise at the root
and actions drawn from the visit counts; evaluation episodes search without noise and take
the most visited action.

Metrics (``agent/...`` in a run's ``metrics.csv``): ``value_loss``, ``policy_loss``, ``entropy``
(the prior's) and ``search_value`` (the mean value target of the search).

    agent = AlphaZero(AlphaZeroConfig(), env.spec, make_jax_env("mbrlax/CartPole-v0"))
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mbrlax.agents.alphazero.networks import init_policy_value, policy_value, policy_value_loss
from mbrlax.agents.base import check_known_model, polyak, scan_updates
from mbrlax.agents.sac.networks import MLP
from mbrlax.agents.search import GuidedSearch
from mbrlax.data.buffer import ReplayBuffer
from mbrlax.envs.base import JaxEnv, as_step_fn
from mbrlax.envs.spec import EnvSpec
from mbrlax.planners import MCTS, Planner


@dataclasses.dataclass(frozen=True)
class AlphaZeroConfig:
    """AlphaZero hyper-parameters.

    Attributes:
        search: the MCTS of training episodes (its ``discount`` is the agent's; leaves are
            valued by the network, so ``rollout_depth`` is ignored). Evaluation episodes and
            reanalyse use it without Dirichlet noise and with temperature 0.
        hidden_sizes: hidden layer widths of the policy-value network.
        learning_rate: Adam step size.
        weight_decay: decoupled weight decay (AdamW), AlphaZero's L2 term.
        batch_size: states reanalysed per gradient step.
        updates_per_step: gradient steps per ``update`` call (the runner calls it every
            ``refit_every`` env steps), made as one compiled call.
        value_scale: the network predicts values divided by this (about the largest return:
            ``1 / (1 - discount)`` for a reward of 1 per step), keeping its targets near 1.
        value_weight: ``c``, the weight of the value loss.
        target_tau: Polyak rate of the target network that reanalyse searches with (1: the
            online network itself).
    """

    search: MCTS = MCTS(num_simulations=16, discount=0.99, dirichlet_fraction=0.25, temperature=1.0)
    hidden_sizes: tuple[int, ...] = (64, 64)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    updates_per_step: int = 1
    value_scale: float = 1.0
    value_weight: float = 1.0
    target_tau: float = 0.1

    def __post_init__(self):
        if not isinstance(self.search, MCTS):
            raise ValueError(
                f"AlphaZero searches with MCTS; got search={type(self.search).__name__}."
            )
        for name in ("batch_size", "updates_per_step"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"AlphaZeroConfig.{name} must be an int >= 1, got {value!r}.")
        for name in ("learning_rate", "value_scale", "value_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AlphaZeroConfig.{name} must be > 0, got {getattr(self, name)}.")
        if self.weight_decay < 0:
            raise ValueError(f"AlphaZeroConfig.weight_decay must be >= 0, got {self.weight_decay}.")
        if not 0.0 < self.target_tau <= 1.0:
            raise ValueError(
                f"AlphaZeroConfig.target_tau must be in (0, 1], got {self.target_tau}."
            )


class AlphaZeroState(NamedTuple):
    """Everything AlphaZero learns, as a pytree of arrays.

    Attributes:
        net: the policy-value network.
        target_net: its Polyak-averaged copy, which reanalyse searches with.
        opt_state: AdamW state of ``net``.
        updates: ``[]`` int32, gradient steps made so far.
    """

    net: MLP
    target_net: MLP
    opt_state: optax.OptState
    updates: Int[Array, ""]


@dataclasses.dataclass(frozen=True)
class AlphaZero(GuidedSearch):
    """AlphaZero on a Discrete-action env whose dynamics the JAX env ``model`` knows.

    Static and hashable: ``act`` and ``update`` compile once.

    Attributes:
        config: hyper-parameters.
        spec: the env acted in; its observations must be the model's (e.g. Gymnasium's
            ``CartPole-v1`` with the model ``mbrlax/CartPole-v0``).
        model: the JAX env the search runs through; it must implement ``state_from_obs``.
    """

    config: AlphaZeroConfig
    spec: EnvSpec
    model: JaxEnv

    def __post_init__(self):
        if self.spec.is_continuous:
            raise ValueError(
                f"AlphaZero searches over discrete actions but {self.spec.env_id} has Box "
                "actions; plan them with `mbrlax train mpc` (agent.planner:sampled-mcts, "
                "agent.planner:cem) or learn a policy with `mbrlax train sac`."
            )
        check_known_model(self.spec, self.model)

    @functools.cached_property
    def _optimizer(self) -> optax.GradientTransformation:
        return optax.adamw(self.config.learning_rate, weight_decay=self.config.weight_decay)

    def guide(self, state: AlphaZeroState) -> MLP:
        return state.net

    def planner(self, net: MLP, search: MCTS) -> Planner:
        """``search`` guided by ``net``: its prior and its leaf values (on the model's
        observations of the search's states)."""
        scale = self.config.value_scale

        def value_fn(s):
            return policy_value(net, self.model.observe(s), scale)[1]

        def prior_fn(s):
            return policy_value(net, self.model.observe(s), scale)[0]

        return search.build(self.num_actions, value_fn=value_fn, prior_fn=prior_fn)

    def search(
        self, net: MLP, search: MCTS, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], dict[str, Array]]:
        """One search from the model state of ``obs``: ``(action [], info)`` (see MCTS)."""
        planner = self.planner(net, search)
        state = self.model.state_from_obs(jnp.asarray(obs, jnp.float32))
        action, _, info = planner.plan(planner.init(), as_step_fn(self.model), state, key)
        return action, info

    def init(self, key: PRNGKeyArray) -> AlphaZeroState:
        """A fresh network (its target a copy) and optimiser."""
        net = init_policy_value(key, self.spec.obs_dim, self.num_actions, self.config.hidden_sizes)
        return AlphaZeroState(
            net=net,
            target_net=jax.tree.map(jnp.copy, net),
            opt_state=self._optimizer.init(net),
            updates=jnp.int32(0),
        )

    def reanalyse(
        self, net: MLP, obs: Float[Array, "B d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, "B N"], Float[Array, " B"]]:
        """Fresh targets for a batch of observations: ``(search policy [B, N], search value
        [B])`` of a noise-free search guided by ``net``."""
        keys = jax.random.split(key, obs.shape[0])
        _, info = jax.vmap(lambda o, k: self.search(net, self._greedy_search, o, k))(obs, keys)
        return info["action_weights"], info["expected_return"]

    def update_step(
        self, state: AlphaZeroState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[AlphaZeroState, dict[str, Float[Array, ""]]]:
        """One gradient step on a reanalysed batch of the buffer's observations."""
        c = self.config
        k_batch, k_search = jax.random.split(key)
        obs = buffer.sample(k_batch, c.batch_size).obs
        policy_t, value_t = self.reanalyse(state.target_net, obs, k_search)
        policy_t, value_t = jax.lax.stop_gradient((policy_t, value_t))
        (_, metrics), grads = jax.value_and_grad(policy_value_loss, has_aux=True)(
            state.net, obs, policy_t, value_t, c.value_scale, c.value_weight
        )
        updates, opt_state = self._optimizer.update(grads, state.opt_state, state.net)
        net = optax.apply_updates(state.net, updates)
        target = polyak(state.target_net, net, c.target_tau)
        metrics = {**metrics, "search_value": jnp.mean(value_t)}
        return AlphaZeroState(net, target, opt_state, state.updates + 1), metrics

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: AlphaZeroState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[AlphaZeroState, dict[str, Array]]:
        """``updates_per_step`` gradient steps in one compiled call; metrics averaged."""

        return scan_updates(self.update_step, state, buffer, key, self.config.updates_per_step)

    def network_action(self, state: AlphaZeroState, obs: Float[Array, " d"]) -> Int[Array, ""]:
        """The prior's most likely action, without search (to see what the network learned)."""
        logits, _ = policy_value(state.net, obs, self.config.value_scale)
        return jnp.argmax(logits).astype(jnp.int32)
