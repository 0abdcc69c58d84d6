"""SAC (Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications").

Twin Q-functions with target copies updated by Polyak averaging, a tanh-squashed Gaussian
policy, and the entropy temperature ``alpha`` tuned automatically toward a target entropy
(``-A`` by default). One gradient step:

    y      = r + gamma (1 - terminated) [min_i Q'_i(s', a') - alpha log pi(a' | s')],  a' ~ pi(s')
    L_Q    = 1/2 sum_i mean (Q_i(s, a) - y)^2
    L_pi   = mean [alpha log pi(a~ | s) - min_i Q_i(s, a~)],  a~ ~ pi(s) (reparametrised)
    L_alpha = -mean [log alpha (log pi(a~ | s) + target_entropy)]
    Q'     <- tau Q + (1 - tau) Q'

:class:`SACLearner` is this rule on batches of transitions, for any agent that feeds it
batches (SAC on real data here, MBPO on real and imagined data). :class:`SAC` is the
model-free agent the runner drives (``mbrlax train sac``): random actions for the runner's
warm-up, then ``updates_per_step`` gradient steps after every env step, all one compiled call.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mbrlax.agents.base import polyak
from mbrlax.agents.sac.networks import (
    MLP,
    init_actor,
    init_twin_critic,
    mean_action,
    sample_action,
    twin_q,
)
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyper-parameters.

    Defaults are the paper's Table 1 (Haarnoja et al. 2018) except the step sizes of the
    Q-networks and of ``log alpha``: 1e-3, as in CleanRL's ``sac_continuous_action.py``
    (``q_lr``, also used for alpha), where the paper has 3e-4 for all three. With 3e-4 our SAC
    (checked step by step against an independent PyTorch SAC) and that PyTorch SAC both stalled
    on Hopper-v5 (mean of the last 5 evaluations at 100,000 steps over seeds 0-2: 319, 567,
    1204); ``benchmarks/mbpo_vs_sac.py`` measures these defaults. ``SAC_PAPER`` keeps the
    paper's values.

    Attributes:
        hidden_sizes: hidden layer widths of the policy and of each Q-network.
        actor_learning_rate: Adam step size of the policy.
        critic_learning_rate: Adam step size of the Q-networks.
        alpha_learning_rate: Adam step size of ``log alpha``.
        gamma: discount factor.
        tau: Polyak averaging rate of the target Q-networks, per gradient step.
        batch_size: transitions per gradient step.
        updates_per_step: gradient steps after every env step (MBPO's ``G``), made as one
            compiled call.
        init_alpha: the entropy temperature at the start.
        learn_alpha: tune ``alpha`` toward ``target_entropy``; False keeps ``init_alpha``.
        target_entropy: the entropy the temperature steers to; None means ``-A`` (the
            paper's heuristic), computed on the normalised actions in ``[-1, 1]^A``.
        log_std_min: lower bound of the pre-squash Gaussian's log standard deviation.
        log_std_max: upper bound of it.
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 1e-3
    alpha_learning_rate: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    updates_per_step: int = 1
    init_alpha: float = 1.0
    learn_alpha: bool = True
    target_entropy: float | None = None
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    def __post_init__(self):
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive widths, got {self.hidden_sizes}.")
        for name in ("actor_learning_rate", "critic_learning_rate", "alpha_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}.")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}.")
        if self.batch_size < 1 or self.updates_per_step < 1:
            raise ValueError(
                f"batch_size and updates_per_step must be >= 1, got {self.batch_size} and "
                f"{self.updates_per_step}."
            )
        if not self.init_alpha > 0:
            raise ValueError(f"init_alpha must be > 0, got {self.init_alpha}.")
        if self.log_std_min >= self.log_std_max:
            raise ValueError("log_std_min must be below log_std_max.")


SAC_PAPER = SACConfig(critic_learning_rate=3e-4, alpha_learning_rate=3e-4)
"""The SAC paper's Table 1: Adam step size 3e-4 for the policy, the Q-networks and alpha (MBPO
keeps these for its policy learner, as its paper and code do)."""


class SACState(NamedTuple):
    """Everything SAC learns, as a pytree of arrays.

    Attributes:
        actor: the policy network.
        critic: the twin Q-networks (leaves ``[2, ...]``).
        target_critic: their Polyak-averaged copies.
        log_alpha: ``[]`` log of the entropy temperature.
        actor_opt: Adam state of the policy.
        critic_opt: Adam state of the Q-networks.
        alpha_opt: Adam state of ``log_alpha``.
        updates: ``[]`` int32, gradient steps made so far.
    """

    actor: MLP
    critic: MLP
    target_critic: MLP
    log_alpha: Float[Array, ""]
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    updates: Int[Array, ""]


@dataclasses.dataclass(frozen=True)
class SACLearner:
    """SAC's learning rule for observations of size ``obs_dim`` and actions in the box
    ``[action_low, action_high]`` (the env's bounds; the networks see ``[-1, 1]^A``)."""

    config: SACConfig
    obs_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]

    @property
    def action_dim(self) -> int:
        return len(self.action_low)

    @property
    def target_entropy(self) -> float:
        te = self.config.target_entropy
        return -float(self.action_dim) if te is None else float(te)

    @property
    def _log_std_bounds(self) -> tuple[float, float]:
        return (self.config.log_std_min, self.config.log_std_max)

    @functools.cached_property
    def _optimizers(self) -> tuple[optax.GradientTransformation, ...]:
        c = self.config
        return (
            optax.adam(c.actor_learning_rate),
            optax.adam(c.critic_learning_rate),
            optax.adam(c.alpha_learning_rate),
        )

    def init(self, key: PRNGKeyArray) -> SACState:
        """Fresh networks, the target a copy of the critic, ``alpha = init_alpha``."""
        k_actor, k_critic = jax.random.split(key)
        hidden = self.config.hidden_sizes
        actor = init_actor(k_actor, self.obs_dim, self.action_dim, hidden)
        critic = init_twin_critic(k_critic, self.obs_dim, self.action_dim, hidden)
        log_alpha = jnp.log(jnp.float32(self.config.init_alpha))
        opt_actor, opt_critic, opt_alpha = self._optimizers
        return SACState(
            actor=actor,
            critic=critic,
            target_critic=jax.tree.map(jnp.copy, critic),
            log_alpha=log_alpha,
            actor_opt=opt_actor.init(actor),
            critic_opt=opt_critic.init(critic),
            alpha_opt=opt_alpha.init(log_alpha),
            updates=jnp.int32(0),
        )

    def to_env(self, action: Float[Array, "... A"]) -> Float[Array, "... A"]:
        """A normalised action in ``[-1, 1]^A`` in the env's bounds."""
        low, high = np.asarray(self.action_low, np.float32), np.asarray(self.action_high)
        return low + (action + 1.0) * (high.astype(np.float32) - low) / 2.0

    def to_normalised(self, action: Float[Array, "... A"]) -> Float[Array, "... A"]:
        """An env action in ``[-1, 1]^A`` (the inverse of :meth:`to_env`)."""
        low, high = np.asarray(self.action_low, np.float32), np.asarray(self.action_high)
        return 2.0 * (action - low) / (high.astype(np.float32) - low) - 1.0

    def sample(
        self, state: SACState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> Float[Array, " A"]:
        """A draw of the policy at ``obs``, in the env's bounds (training episodes)."""
        return self.to_env(sample_action(state.actor, obs, key, self._log_std_bounds)[0])

    def deterministic(self, state: SACState, obs: Float[Array, " d"]) -> Float[Array, " A"]:
        """The policy's mean action ``tanh(mean)`` at ``obs``, in the env's bounds."""
        return self.to_env(mean_action(state.actor, obs, self._log_std_bounds))

    def update_step(
        self, state: SACState, batch: Transition, key: PRNGKeyArray
    ) -> tuple[SACState, dict[str, Float[Array, ""]]]:
        """One gradient step on a batch (leaves ``[B, ...]``, actions in the env's bounds):
        the critic, then the policy against the updated critic, then ``alpha``, then the
        target; returns ``(state, metrics)``."""
        c = self.config
        bounds = self._log_std_bounds
        opt_actor, opt_critic, opt_alpha = self._optimizers
        k_next, k_pi = jax.random.split(key)
        batch_size = batch.reward.shape[0]
        alpha = jnp.exp(state.log_alpha)
        obs, next_obs = batch.obs, batch.next_obs
        action = self.to_normalised(batch.action)

        sample = jax.vmap(sample_action, in_axes=(None, 0, 0, None))
        q_values = jax.vmap(twin_q, in_axes=(None, 0, 0))
        next_action, next_logp = sample(
            state.actor, next_obs, jax.random.split(k_next, batch_size), bounds
        )
        next_q = q_values(state.target_critic, next_obs, next_action).min(axis=-1)
        not_done = 1.0 - batch.terminated.astype(jnp.float32)
        target = batch.reward + c.gamma * not_done * (next_q - alpha * next_logp)
        target = jax.lax.stop_gradient(target)

        def critic_loss(critic: MLP) -> tuple[Float[Array, ""], Float[Array, ""]]:
            q = q_values(critic, obs, action)
            return 0.5 * jnp.sum(jnp.mean((q - target[:, None]) ** 2, axis=0)), q.mean()

        (q_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic)
        updates, critic_opt = opt_critic.update(grads, state.critic_opt, state.critic)
        critic = optax.apply_updates(state.critic, updates)

        pi_keys = jax.random.split(k_pi, batch_size)

        def actor_loss(actor: MLP) -> tuple[Float[Array, ""], Float[Array, " B"]]:
            new_action, logp = sample(actor, obs, pi_keys, bounds)
            q = q_values(critic, obs, new_action).min(axis=-1)
            return jnp.mean(alpha * logp - q), logp

        (pi_loss, logp), grads = jax.value_and_grad(actor_loss, has_aux=True)(state.actor)
        updates, actor_opt = opt_actor.update(grads, state.actor_opt, state.actor)
        actor = optax.apply_updates(state.actor, updates)

        log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
        if c.learn_alpha:
            entropy_gap = jax.lax.stop_gradient(jnp.mean(logp) + self.target_entropy)
            grad = -entropy_gap  # d/d log_alpha of -log_alpha * (log pi + target_entropy)
            updates, alpha_opt = opt_alpha.update(grad, state.alpha_opt, log_alpha)
            log_alpha = optax.apply_updates(log_alpha, updates)

        target_critic = polyak(state.target_critic, critic, c.tau)
        new_state = SACState(
            actor, critic, target_critic, log_alpha, actor_opt, critic_opt, alpha_opt,
            state.updates + 1,
        )  # fmt: skip
        metrics = {
            "critic_loss": q_loss,
            "actor_loss": pi_loss,
            "alpha": alpha,
            "entropy": -jnp.mean(logp),
            "q_mean": q_mean,
        }
        return new_state, metrics

    def update_many(
        self,
        state: SACState,
        draw_batch: Callable[[PRNGKeyArray], Transition],
        key: PRNGKeyArray,
        num_updates: int,
    ) -> tuple[SACState, dict[str, Float[Array, ""]]]:
        """``num_updates`` gradient steps in one ``lax.scan``, each on ``draw_batch(key)``;
        the metrics are averaged over the steps."""

        def one(state: SACState, key: PRNGKeyArray):
            k_batch, k_step = jax.random.split(key)
            return self.update_step(state, draw_batch(k_batch), k_step)

        state, metrics = jax.lax.scan(one, state, jax.random.split(key, num_updates))
        return state, jax.tree.map(jnp.mean, metrics)


@dataclasses.dataclass(frozen=True)
class SAC:
    """The model-free SAC agent for one env (``spec``: Box observations and actions).

    Static and hashable: ``act`` and ``update`` compile once. The runner's warm-up steps
    (random actions) are SAC's "learning starts"; after them it calls ``update`` after every
    env step (``refit_every = 1``).
    """

    config: SACConfig
    spec: EnvSpec

    def __post_init__(self):
        check_continuous_control(self.spec, "SAC")

    @functools.cached_property
    def learner(self) -> SACLearner:
        low, high = self.spec.action_bounds()
        return SACLearner(
            self.config, self.spec.obs_dim, tuple(map(float, low)), tuple(map(float, high))
        )

    def init(self, key: PRNGKeyArray) -> SACState:
        return self.learner.init(key)

    def begin_episode(self, state: SACState) -> SACState:
        return state  # nothing is per-episode

    def act(
        self, state: SACState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], SACState, dict[str, Array]]:
        """A draw of the policy (training episodes explore through it)."""
        return policy_sample(self.learner, state, obs, key), state, {}

    def act_eval(
        self, state: SACState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], SACState, dict[str, Array]]:
        """The policy's mean action (evaluation episodes)."""
        del key
        return policy_mean(self.learner, state, obs), state, {}

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: SACState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[SACState, dict[str, Array]]:
        """``updates_per_step`` gradient steps, each on a fresh uniform batch of ``buffer``."""
        batch_size = self.config.batch_size
        return self.learner.update_many(
            state, lambda k: buffer.sample(k, batch_size), key, self.config.updates_per_step
        )


# Acting is jitted on its own and the agent state handed back as it is: a jitted ``act`` that
# returned the state would copy all of it (for MBPO, a model buffer of hundreds of MB) per step.
@functools.partial(jax.jit, static_argnums=0)
def policy_sample(
    learner: SACLearner, state: SACState, obs: Float[Array, " d"], key: PRNGKeyArray
) -> Float[Array, " A"]:
    """:meth:`SACLearner.sample`, jitted: a draw of the policy at ``obs``."""
    return learner.sample(state, jnp.asarray(obs, jnp.float32), key)


@functools.partial(jax.jit, static_argnums=0)
def policy_mean(
    learner: SACLearner, state: SACState, obs: Float[Array, " d"]
) -> Float[Array, " A"]:
    """:meth:`SACLearner.deterministic`, jitted: the policy's mean action at ``obs``."""
    return learner.deterministic(state, jnp.asarray(obs, jnp.float32))


def sac_value_fn(learner: SACLearner, state: SACState) -> Callable[[Array], Float[Array, ""]]:
    """``V(o) = min_i Q_i(o, tanh(mu(o)))``: SAC's critic at its policy's mean action.

    The value of the deterministic policy SAC evaluates with (the soft value less its entropy
    bonus), in the discounted units of ``gamma``: a terminal value ``V(s_H)`` for a planner
    (see :func:`mbrlax.agents.mpc.observed_value`), so a short planning horizon inherits what
    SAC learned about the long run.
    """
    bounds = learner._log_std_bounds

    def value(obs: Float[Array, " d"]) -> Float[Array, ""]:
        obs = jnp.asarray(obs, jnp.float32)
        return jnp.min(twin_q(state.critic, obs, mean_action(state.actor, obs, bounds)))

    return value


def check_continuous_control(spec: EnvSpec, algo: str) -> None:
    """Raise ``ValueError`` unless ``spec`` has vector observations and Box actions."""
    if spec.is_tabular:
        raise ValueError(
            f"{algo} needs vector observations but {spec.env_id} has discrete ones "
            f"({spec.num_states} states); use `mbrlax train dyna-q` (tabular), or give the env "
            "one-hot Box observations (a small gymnasium.ObservationWrapper)."
        )
    if not spec.is_continuous:
        raise ValueError(
            f"{algo} learns a Gaussian policy over Box actions but {spec.env_id} has a "
            "Discrete action space; use an env with Box actions (tabular or tree-search agents "
            "handle discrete ones)."
        )
