"""PlaNet (Hafner et al. 2019): model-predictive control in the latent space of a recurrent
state-space model learned from experience.

At every step the latent state is filtered with the new observation (the RSSM's posterior,
given the previous action), and a planner (CEM, as in the paper) optimises an action sequence
through the RSSM's prior, scoring it by the rewards the model predicts; the first action is
executed. After every episode (or every ``--refit-every`` env steps) the model takes
``train_steps`` gradient steps on sequences drawn from the replay buffer. Nothing is learned but
the model: no policy, no value. Observations are vectors or RGB frames (``ID?pixels=64``);
the reward is always learned.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.data.buffer import ReplayBuffer
from mbrlax.data.sequences import sample_sequences
from mbrlax.envs.spec import EnvSpec
from mbrlax.models.rssm import RSSM, RSSMConfig, RSSMParams, RSSMState
from mbrlax.planners import CEM, SamplingPlanner


@dataclasses.dataclass(frozen=True)
class PlaNetConfig:
    """PlaNet hyper-parameters.

    The paper: CEM over 12 steps with 1,000 candidates, the best 100 refitted over 10
    iterations; 100 gradient steps on 50 sequences of 50 steps after every 1,000 env steps.
    The defaults are smaller, sized for 2 CPU cores.

    Attributes:
        model: the recurrent state-space model.
        planner: the optimiser of action sequences through the model's latent prior.
        train_steps: gradient steps of the model at every update.
        batch_size: sequences per gradient step.
        batch_length: steps per sequence.
    """

    model: RSSMConfig = RSSMConfig(deter=128, stoch=16, classes=16, units=128, learning_rate=3e-4)
    planner: SamplingPlanner = CEM(horizon=12, population=200, num_elites=20, iterations=5)
    train_steps: int = 100
    batch_size: int = 16
    batch_length: int = 32

    def __post_init__(self) -> None:
        for name in ("train_steps", "batch_size", "batch_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"PlaNetConfig.{name} must be >= 1, got {getattr(self, name)}.")


class PlaNetState(NamedTuple):
    """Agent state: the model and its optimiser, the filtered latent state of the running
    episode, the action that led to it, whether the next observation starts the episode, and
    the planner's warm start."""

    model: RSSMParams
    latent: RSSMState
    prev_action: Float[Array, " A"]
    first: Bool[Array, ""]
    planner_state: Any


@dataclasses.dataclass(frozen=True)
class PlaNet:
    """PlaNet for one env (``spec``); static and hashable, so ``act`` and ``update`` compile
    once."""

    config: PlaNetConfig
    spec: EnvSpec

    def __post_init__(self) -> None:
        if not self.spec.is_continuous or self.spec.is_tabular:
            raise ValueError(
                f"PlaNet plans Box actions from vectors or frames, and {self.spec.env_id} has "
                "Discrete actions or discrete observations; use `mbrlax train muzero`."
            )

    @functools.cached_property
    def model(self) -> RSSM:
        return RSSM(self.config.model, self.spec.obs_shape, self.spec.action_dim)

    @functools.cached_property
    def planner(self):
        return self.config.planner.build_for(self.spec)

    def init(self, key: PRNGKeyArray) -> PlaNetState:
        return PlaNetState(
            self.model.init(key),
            self.model.initial_state(),
            jnp.zeros(self.spec.action_dim),
            jnp.array(True),
            self.planner.init(),
        )

    def begin_episode(self, state: PlaNetState) -> PlaNetState:
        return state._replace(
            latent=self.model.initial_state(),
            prev_action=jnp.zeros(self.spec.action_dim),
            first=jnp.array(True),
            planner_state=self.planner.init(),
        )

    @functools.partial(jax.jit, static_argnums=0)
    def act(
        self, state: PlaNetState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], PlaNetState, dict[str, Array]]:
        """Filter the latent state with ``obs``, then plan through the prior from it."""
        k_filter, k_plan = jax.random.split(key)
        nets = state.model.nets
        obs = jnp.asarray(obs, jnp.float32)
        latent = self.model.filter(
            nets, state.latent, state.prev_action, state.first, obs, k_filter
        )

        def step(s, a, k):
            return self.model.step(nets, s, a, k)

        action, pstate, info = self.planner.plan(state.planner_state, step, latent, k_plan)
        new = PlaNetState(state.model, latent, action, jnp.array(False), pstate)
        return action, new, info

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: PlaNetState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[PlaNetState, dict[str, Array]]:
        """``train_steps`` gradient steps of the model on sequences from ``buffer``."""
        c = self.config

        def one(params, k):
            k_seq, k_upd = jax.random.split(k)
            seqs = sample_sequences(buffer, k_seq, c.batch_size, c.batch_length)
            return self.model.update(params, seqs, k_upd)

        params, metrics = jax.lax.scan(one, state.model, jax.random.split(key, c.train_steps))
        return state._replace(model=params), {k: jnp.mean(v) for k, v in metrics.items()}
