"""Dreamer (DreamerV3, Hafner et al. 2023): an actor and a critic learned purely from
trajectories imagined by a recurrent state-space model, for Box actions.

Every update takes ``train_steps`` steps, each: one gradient step of the RSSM on replayed
sequences (:mod:`mbrlax.models.rssm`), then, from every posterior state of those sequences,
``horizon`` steps imagined through the prior with actions of the actor; the critic (symlog
two-hot) learns the lambda-returns of the imagined rewards and continue flags, regularised
towards its slow copy (an exponential moving average); the actor maximises the returns,
divided by DreamerV3's running percentile return scale, plus an entropy bonus: by their
gradient through the imagined dynamics (DreamerV1/V2 for continuous actions, the default) or by
REINFORCE (DreamerV3). Acting filters the latent state with each observation and samples the actor
(evaluation: its mean). Observations are vectors or RGB frames (``ID?pixels=64``: the
RSSM's CNN pair reads them); the reward is always learned.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.agents.base import unit_to_env
from mbrlax.agents.returns import (
    ReturnScale,
    lambda_returns,
    replay_returns,
    return_scale,
    return_scale_init,
)
from mbrlax.data.buffer import ReplayBuffer
from mbrlax.data.sequences import sample_sequences
from mbrlax.envs.spec import EnvSpec
from mbrlax.models.distributions import twohot_bins, twohot_loss, twohot_mean
from mbrlax.models.layers import apply_mlp, mlp
from mbrlax.models.rssm import RSSM, RSSMConfig, RSSMParams, RSSMState


@dataclasses.dataclass(frozen=True)
class DreamerConfig:
    """Dreamer hyper-parameters (DreamerV3's where they do not depend on scale; sizes and
    learning rates for 2 CPU cores: a model of about 0.1M parameters, which learns a 16 x
    16-pixel task in a test; its DMC scores against DreamerV3's are on the benchmarks page,
    from ``benchmarks/world_models.py``).

    Attributes:
        model: the recurrent state-space model.
        units: width of the actor's and the critic's layers.
        layers: their hidden layers.
        horizon: imagined steps from each start state (DreamerV3: 15).
        discount: gamma of the returns (DreamerV3: 1 - 1/333).
        lam: lambda of the lambda-returns (DreamerV3: 0.95).
        entropy: weight of the actor's entropy bonus (DreamerV3: 3e-4 on returns it scales
            to about 1; 1e-3 here keeps the small actor exploring).
        actor_learning_rate: Adam's step size for the actor (DreamerV3 paper: 3e-5).
        critic_learning_rate: Adam's step size for the critic (DreamerV3 paper: 3e-5).
        slow_critic_rate: the slow critic moves this fraction towards the critic every step
            (DreamerV3: 0.02).
        replay_critic: weight of DreamerV3's replay critic loss (0.3 in the configs its DMC
            scores were run with): the critic also regresses the lambda-returns of the
            replayed real sequences (their real rewards, bootstrapped with the imagined return
            from each state: :func:`mbrlax.agents.returns.replay_returns`), so its values rest
            on what happened as well as on what the model imagines. 0: off.
        min_std: the actor's smallest standard deviation (DreamerV3: 0.1).
        max_std: its largest (DreamerV3: 1).
        explore_noise: standard deviation of Gaussian noise added to the actor's sampled
            action (in ``[-1, 1]`` units, then clipped) in training episodes only (DreamerV1's
            ``expl_amount``, 0.3): imagination and evaluation never see it. The actor's own
            spread shrinks towards ``min_std`` as soon as its returns outweigh the entropy
            bonus; this noise keeps the data varied after that.
        actor_gradient: ``"dynamics"``: the actor's gradient flows back through the imagined
            trajectory (the model's prior, reward head and the critic, with reparameterised
            actions: DreamerV1/V2's choice for continuous actions, which learns fastest where
            the model is smooth); ``"reinforce"``: the score-function gradient of the
            normalised advantages (DreamerV3's; it needs no gradient through the model).
        train_steps: gradient steps (world model, critic, actor) at every update.
        batch_size: sequences per gradient step.
        batch_length: steps per sequence.
    """

    model: RSSMConfig = RSSMConfig(
        deter=64, stoch=8, classes=8, units=64, layers=1, depth=16, learning_rate=1e-3
    )
    units: int = 64
    layers: int = 1
    horizon: int = 15
    discount: float = 1.0 - 1.0 / 333.0
    lam: float = 0.95
    entropy: float = 1e-3
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    slow_critic_rate: float = 0.02
    replay_critic: float = 0.0
    min_std: float = 0.1
    max_std: float = 1.0
    explore_noise: float = 0.0
    actor_gradient: Literal["dynamics", "reinforce"] = "dynamics"
    train_steps: int = 100
    batch_size: int = 16
    batch_length: int = 16

    def __post_init__(self) -> None:
        for name in ("units", "horizon", "train_steps", "batch_size", "batch_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"DreamerConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if not 0.0 < self.discount <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError("DreamerConfig: discount must be in (0, 1] and lam in [0, 1].")
        if not 0.0 < self.min_std <= self.max_std:
            raise ValueError("DreamerConfig: need 0 < min_std <= max_std.")
        if not self.replay_critic >= 0.0:
            raise ValueError(
                f"DreamerConfig.replay_critic must be >= 0 (0: off), got {self.replay_critic}."
            )
        if not self.explore_noise >= 0.0:
            raise ValueError(
                f"DreamerConfig.explore_noise must be >= 0 (0: none), got {self.explore_noise}."
            )
        if self.actor_gradient not in ("dynamics", "reinforce"):
            raise ValueError(
                f"DreamerConfig.actor_gradient must be 'dynamics' or 'reinforce', got "
                f"{self.actor_gradient!r}."
            )


class DreamerState(NamedTuple):
    """Agent state: the world model, actor, critic, slow critic and their optimisers, the
    running return scale, and the filtered latent state of the running episode."""

    model: RSSMParams
    actor: Any
    critic: Any
    slow_critic: Any
    actor_opt: Any
    critic_opt: Any
    scale: ReturnScale
    latent: RSSMState
    prev_action: Float[Array, " A"]
    first: Bool[Array, ""]


@dataclasses.dataclass(frozen=True)
class Dreamer:
    """Dreamer for one env (``spec``); static and hashable."""

    config: DreamerConfig
    spec: EnvSpec

    def __post_init__(self) -> None:
        if not self.spec.is_continuous or self.spec.is_tabular:
            raise ValueError(
                f"Dreamer here learns Box actions from vectors or frames, and "
                f"{self.spec.env_id} has Discrete actions or discrete observations; use "
                "`mbrlax train muzero`."
            )

    @functools.cached_property
    def model(self) -> RSSM:
        return RSSM(self.config.model, self.spec.obs_shape, self.spec.action_dim)

    @functools.cached_property
    def bins(self) -> Array:
        # A constant even when first read inside a trace (a cached tracer would leak).
        with jax.ensure_compile_time_eval():
            return twohot_bins(self.config.model.bins)

    def _optimizers(self) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
        c = self.config
        return (
            optax.chain(optax.clip_by_global_norm(100.0), optax.adam(c.actor_learning_rate)),
            optax.chain(optax.clip_by_global_norm(100.0), optax.adam(c.critic_learning_rate)),
        )

    def init(self, key: PRNGKeyArray) -> DreamerState:
        c = self.config
        k_model, k_actor, k_critic = jax.random.split(key, 3)
        feat = c.model.deter + c.model.stoch * c.model.classes
        actor = mlp(k_actor, feat, c.units, c.layers, 2 * self.spec.action_dim, out_scale=0.01)
        critic = mlp(k_critic, feat, c.units, c.layers, c.model.bins, out_scale=0.0)
        actor_opt, critic_opt = self._optimizers()
        return DreamerState(
            self.model.init(k_model),
            actor,
            critic,
            critic,
            actor_opt.init(actor),
            critic_opt.init(critic),
            return_scale_init(),
            self.model.initial_state(),
            jnp.zeros(self.spec.action_dim),
            jnp.array(True),
        )

    def begin_episode(self, state: DreamerState) -> DreamerState:
        return state._replace(
            latent=self.model.initial_state(),
            prev_action=jnp.zeros(self.spec.action_dim),
            first=jnp.array(True),
        )

    # ---------------------------------------------------------------- the policy
    def _policy(self, actor, features: Array) -> tuple[Array, Array]:
        """``(mean, std)`` of the actor's Gaussian over actions in ``[-1, 1]^A``."""
        c = self.config
        mean, raw = jnp.split(apply_mlp(actor, features), 2)
        std = (c.max_std - c.min_std) * jax.nn.sigmoid(raw + 2.0) + c.min_std
        return jnp.tanh(mean), std

    def _act(self, state: DreamerState, obs, key, explore: bool):
        k_filter, k_act = jax.random.split(key)
        nets = state.model.nets
        obs = jnp.asarray(obs, jnp.float32)
        latent = self.model.filter(
            nets, state.latent, state.prev_action, state.first, obs, k_filter
        )
        mean, std = self._policy(state.actor, self.model.features(latent))
        unit = mean
        if explore:
            unit = mean + std * jax.random.normal(k_act, mean.shape)
            if self.config.explore_noise > 0.0:
                k_noise = jax.random.fold_in(k_act, 1)  # keeps k_act's draws as they were
                noise = self.config.explore_noise * jax.random.normal(k_noise, mean.shape)
                unit = jnp.clip(unit + noise, -1.0, 1.0)
        action = unit_to_env(self.spec, unit)
        new = state._replace(latent=latent, prev_action=action, first=jnp.array(False))
        return action, new, {}

    @functools.partial(jax.jit, static_argnums=0)
    def act(self, state: DreamerState, obs: Float[Array, " d"], key: PRNGKeyArray):
        """Filter the latent state with ``obs``; sample the actor."""
        return self._act(state, obs, key, explore=True)

    @functools.partial(jax.jit, static_argnums=0)
    def act_eval(self, state: DreamerState, obs: Float[Array, " d"], key: PRNGKeyArray):
        """Filter the latent state with ``obs``; the actor's mean."""
        return self._act(state, obs, key, explore=False)

    # ---------------------------------------------------------------- learning
    def _imagine(self, nets, actor, start: RSSMState, key):
        """``horizon`` steps from one start state: states ``[H+1]``, unit actions ``[H]``,
        rewards and continue probabilities of the states reached ``[H]``."""

        # With dynamics gradients the actions stay reparameterised and the states carry the
        # actor's gradient; with REINFORCE both are constants.
        cut = (lambda x: x) if self.config.actor_gradient == "dynamics" else jax.lax.stop_gradient

        def one(s, k):
            k_a, k_s = jax.random.split(k)
            mean, std = self._policy(actor, self.model.features(s))
            unit = cut(mean + std * jax.random.normal(k_a, mean.shape))
            nxt, _ = self.model.img_step(nets, s, unit_to_env(self.spec, unit), k_s)
            nxt = cut(nxt)
            reward = self.model.reward(nets, nxt)
            cont = self.model.continue_prob(nets, nxt)
            return nxt, (s, unit, reward, cont)

        last, (states, units, rewards, conts) = jax.lax.scan(
            one, start, jax.random.split(key, self.config.horizon)
        )
        states = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), states, last)
        return states, units, rewards, conts

    def _behaviour_losses(self, actor, critic, slow_critic, scale, nets, starts, seqs, key):
        c = self.config
        n = starts.deter.shape[0]
        states, units, rewards, conts = jax.vmap(lambda s, k: self._imagine(nets, actor, s, k))(
            starts, jax.random.split(key, n)
        )
        feats = jax.vmap(jax.vmap(self.model.features))(states)  # [N, H+1, F]
        # The actor's returns see the critic as a constant (its weights are not the actor's
        # to move); the critic learns on the imagined states as constants.
        frozen = jax.lax.stop_gradient(critic)
        values = jax.vmap(jax.vmap(lambda f: twohot_mean(apply_mlp(frozen, f), self.bins)))(feats)
        returns = jax.vmap(lambda r, v, k: lambda_returns(r, v, k, c.discount, c.lam))(
            rewards, values, conts
        )  # [N, H]; carries the actor's gradient through the dynamics when asked
        feats_c = jax.lax.stop_gradient(feats)
        # Later steps count less once an imagined episode may have ended.
        weight = jax.lax.stop_gradient(
            jnp.cumprod(jnp.concatenate([jnp.ones((n, 1)), conts[:, :-1] * c.discount], 1), 1)
        )
        new_scale_value, new_scale = return_scale(scale, jax.lax.stop_gradient(returns))
        mean, std = jax.vmap(jax.vmap(lambda f: self._policy(actor, f)))(feats[:, :-1])
        entropy = jnp.sum(jnp.log(std) + 0.5 * math.log(2 * math.pi * math.e), -1)
        if c.actor_gradient == "dynamics":
            objective = returns / new_scale_value
        else:
            adv = jax.lax.stop_gradient((returns - values[:, :-1]) / new_scale_value)
            logp = jnp.sum(
                -0.5 * ((units - mean) / std) ** 2 - jnp.log(std) - 0.5 * math.log(2 * math.pi),
                -1,
            )
            objective = adv * logp
        actor_loss = -jnp.mean(weight * (objective + c.entropy * entropy))
        logits = jax.vmap(jax.vmap(lambda f: apply_mlp(critic, f)))(feats_c[:, :-1])
        slow = jax.vmap(jax.vmap(lambda f: twohot_mean(apply_mlp(slow_critic, f), self.bins)))(
            feats_c[:, :-1]
        )
        critic_loss = jnp.mean(
            weight
            * (
                twohot_loss(logits, jax.lax.stop_gradient(returns), self.bins)
                + twohot_loss(logits, jax.lax.stop_gradient(slow), self.bins)
            )
        )
        metrics = {}
        if c.replay_critic > 0.0:
            # The starts are the replayed sequences' states, row by row: their imagined returns
            # bootstrap the real ones.
            boot = jax.lax.stop_gradient(returns[:, 0]).reshape(seqs.is_first.shape)
            real, valid = jax.vmap(
                lambda r, t, f, b: replay_returns(r, t, f, b, c.discount, c.lam)
            )(seqs.data.reward, seqs.data.terminated, seqs.is_first, boot)
            replay_loss = twohot_loss(logits[:, 0], real.reshape(-1), self.bins) + twohot_loss(
                logits[:, 0], jax.lax.stop_gradient(slow[:, 0]), self.bins
            )
            critic_loss = critic_loss + c.replay_critic * jnp.mean(valid.reshape(-1) * replay_loss)
            metrics["replay_return"] = jnp.sum(valid * real) / jnp.maximum(jnp.sum(valid), 1)
        metrics = {
            **metrics,
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "imagined_return": jnp.mean(returns[:, 0]),
            "return_scale": new_scale_value,
            "actor_std": jnp.mean(std),
        }
        return actor_loss, critic_loss, new_scale, metrics

    def _train_step(self, state: DreamerState, buffer: ReplayBuffer, key: PRNGKeyArray):
        c = self.config
        k_seq, k_model, k_imag = jax.random.split(key, 3)
        seqs = sample_sequences(buffer, k_seq, c.batch_size, c.batch_length)
        model, model_metrics, posts = self.model.update_with_states(state.model, seqs, k_model)
        starts = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), posts)
        nets = model.nets

        def objective(nets_ac):
            # The actor's loss does not depend on the critic's weights (it sees a frozen copy)
            # nor the critic's on the actor's (imagined states are constants to it): one
            # gradient of the sum gives each its own.
            actor, critic = nets_ac
            a_loss, c_loss, scale, metrics = self._behaviour_losses(
                actor, critic, state.slow_critic, state.scale, nets, starts, seqs, k_imag
            )
            return a_loss + c_loss, (scale, metrics)

        grad_fn = jax.value_and_grad(objective, has_aux=True)
        (_, (scale, metrics)), (a_grads, c_grads) = grad_fn((state.actor, state.critic))
        actor_tx, critic_tx = self._optimizers()
        a_updates, actor_opt = actor_tx.update(a_grads, state.actor_opt, state.actor)
        c_updates, critic_opt = critic_tx.update(c_grads, state.critic_opt, state.critic)
        actor = optax.apply_updates(state.actor, a_updates)
        critic = optax.apply_updates(state.critic, c_updates)
        slow = optax.incremental_update(critic, state.slow_critic, c.slow_critic_rate)
        new = state._replace(
            model=model, actor=actor, critic=critic, slow_critic=slow, actor_opt=actor_opt,
            critic_opt=critic_opt, scale=scale,
        )  # fmt: skip
        return new, {**model_metrics, **metrics}

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: DreamerState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[DreamerState, dict[str, Array]]:
        """``train_steps`` steps of the world model, the critic and the actor."""
        state, metrics = jax.lax.scan(
            lambda s, k: self._train_step(s, buffer, k),
            state,
            jax.random.split(key, self.config.train_steps),
        )
        return state, {k: jnp.mean(v) for k, v in metrics.items()}
