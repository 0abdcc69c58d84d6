"""MBPO (Janner et al., 2019, "When to Trust Your Model: Model-Based Policy Optimization").

SAC learns from short rollouts branched off real states through a probabilistic ensemble:

    every env step (after the runner's warm-up of random actions):
        every `model_train_every` steps: refit the ensemble on all real data (warm-started,
            early stopping on held-out data), then roll `rollout_batch_size` particles
            `k` steps from real states under the current policy into the model buffer
            (`k` from the rollout schedule at the current epoch; FIFO)
        `G = sac.updates_per_step` SAC gradient steps on batches of `real_ratio` real and
            `1 - real_ratio` model transitions, the model ones from the newest
            `retain_epochs x rollouts per epoch x rollout_batch_size x k` rows (the paper's
            model pool, reallocated whenever `k` changes)

Epochs count env steps learned from (the warm-up excluded) in units of ``epoch_length``, as
in the paper's code. Reward and termination come from the env's known task functions where
mbrlax has them (termination is known for the MuJoCo envs; the locomotion rewards need the
hidden x-velocity, so the ensemble learns them), else from learned heads.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mbrlax.agents.base import EnsembleModel
from mbrlax.agents.mbpo.rollout import RolloutSchedule, branched_rollout
from mbrlax.agents.sac.agent import (
    SAC_PAPER,
    SACConfig,
    SACLearner,
    SACState,
    check_continuous_control,
    policy_mean,
    policy_sample,
)
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions, check_task
from mbrlax.models.ensemble import EnsembleConfig, EnsembleParams

MBPO_ENSEMBLE = EnsembleConfig(
    num_members=7, num_elites=5, hidden_sizes=(200, 200, 200, 200), max_updates=2000
)
"""The paper's model: 7 probabilistic members of 4 x 200 swish units, 5 elites. A refit makes
at most 2,000 gradient steps, our cap: the MBPO code trains until 5 epochs bring no 1%
improvement on the holdout (as ours does) and can also stop after ``max_model_t`` seconds (None
in its Hopper, HalfCheetah and InvertedPendulum configs), which would tie a run's numbers to the
machine. Warm-started refits stop early well before the cap (260 steps at 5,000 Hopper
transitions, 790 at 25,000); it bounds the first fit of a fresh ensemble (7,800 steps on 25,000
rows)."""


@dataclasses.dataclass(frozen=True)
class MBPOConfig:
    """MBPO hyper-parameters (defaults: the paper's Hopper settings).

    Attributes:
        model: the probabilistic ensemble.
        sac: the policy learner (the SAC paper's step sizes, as in MBPO's code);
            ``updates_per_step`` is the paper's ``G``.
        model_train_every: env steps between model refits (and rollouts).
        epoch_length: env steps per epoch, the unit of the rollout schedule.
        rollout_schedule: the rollout length ``k`` over epochs.
        rollout_batch_size: particles branched off real states at every refit (the paper's
            ``M`` = 400 per env step times ``model_train_every``).
        retain_epochs: epochs of rollouts the model buffer keeps. As in the paper's code, the
            pool holds ``retain_epochs x rollouts per epoch x rollout_batch_size x k`` rows at
            the current ``k`` (SAC samples only that many of the newest rows); its capacity
            is that at the schedule's longest ``k``.
        real_ratio: fraction of each SAC batch drawn from real data, the rest from the model.
        propagation: ``"tsinf"`` (each step's elite drawn afresh, the paper's) or ``"ts1"``
            (one elite per rollout).
        learn_reward: learn the reward even when the env's is known.
        learn_termination: learn termination even when the env's is known.
    """

    model: EnsembleConfig = MBPO_ENSEMBLE
    sac: SACConfig = dataclasses.replace(SAC_PAPER, updates_per_step=20)
    model_train_every: int = 250
    epoch_length: int = 1000
    rollout_schedule: RolloutSchedule = RolloutSchedule(20, 100, 1, 15)
    rollout_batch_size: int = 100_000
    retain_epochs: int = 1
    real_ratio: float = 0.05
    propagation: Literal["ts1", "tsinf"] = "tsinf"
    learn_reward: bool = False
    learn_termination: bool = False

    def __post_init__(self):
        for name in ("model_train_every", "epoch_length", "rollout_batch_size", "retain_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not 0.0 <= self.real_ratio <= 1.0:
            raise ValueError(f"real_ratio must be in [0, 1], got {self.real_ratio}.")
        if self.propagation not in ("ts1", "tsinf"):
            raise ValueError(f"propagation must be 'ts1' or 'tsinf', got {self.propagation!r}.")

    @property
    def model_buffer_capacity(self) -> int:
        """Rows the model buffer holds: the rollouts of ``retain_epochs`` epochs at the
        schedule's longest ``k``."""
        per_epoch = math.ceil(self.epoch_length / self.model_train_every)
        longest = self.rollout_schedule.max_length
        return self.rollout_batch_size * longest * per_epoch * self.retain_epochs

    def model_window(self, rollout_length: int) -> int:
        """Rows of the model buffer SAC samples from while rollouts are ``rollout_length``
        long: the newest ``retain_epochs`` epochs of them (the paper's pool size)."""
        per_epoch = math.ceil(self.epoch_length / self.model_train_every)
        return self.rollout_batch_size * rollout_length * per_epoch * self.retain_epochs

    @property
    def real_batch_size(self) -> int:
        """Real transitions in each SAC batch (the rest come from the model buffer)."""
        return int(self.sac.batch_size * self.real_ratio)


class MBPOState(NamedTuple):
    """Agent state.

    Attributes:
        model_params: the ensemble.
        sac: the policy, critics and temperature.
        model_buffer: imagined transitions (FIFO over the last ``retain_epochs`` epochs).
        updates: ``[]`` int32, env steps learned from so far (``update`` calls).
    """

    model_params: EnsembleParams
    sac: SACState
    model_buffer: ReplayBuffer
    updates: Int[Array, ""]


@dataclasses.dataclass(frozen=True)
class MBPO(EnsembleModel):
    """The MBPO agent for one env (``spec``) and its task functions (``task`` may be None).

    Static and hashable: every jitted piece compiles once (the rollout once per length).
    """

    config: MBPOConfig
    spec: EnvSpec
    task: TaskFunctions | None = None

    def __post_init__(self):
        check_continuous_control(self.spec, "MBPO")
        if self.task is not None:
            check_task(self.task, self.spec)

    @functools.cached_property
    def learner(self) -> SACLearner:
        low, high = self.spec.action_bounds()
        return SACLearner(
            self.config.sac, self.spec.obs_dim, tuple(map(float, low)), tuple(map(float, high))
        )

    def init(self, key: PRNGKeyArray) -> MBPOState:
        k_model, k_sac = jax.random.split(key)
        d, a = self.spec.obs_dim, self.spec.action_dim
        example = Transition(
            jnp.zeros(d), jnp.zeros(a), jnp.float32(0), jnp.zeros(d), jnp.array(False)
        )
        return MBPOState(
            model_params=self.model.init(k_model),
            sac=self.learner.init(k_sac),
            model_buffer=ReplayBuffer.create(example, self.config.model_buffer_capacity),
            updates=jnp.int32(0),
        )

    def begin_episode(self, state: MBPOState) -> MBPOState:
        return state  # nothing is per-episode

    def act(
        self, state: MBPOState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], MBPOState, dict[str, Array]]:
        """A draw of the policy (training episodes explore through it)."""
        return policy_sample(self.learner, state.sac, obs, key), state, {}

    def act_eval(
        self, state: MBPOState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], MBPOState, dict[str, Array]]:
        """The policy's mean action (evaluation episodes)."""
        del key
        return policy_mean(self.learner, state.sac, obs), state, {}

    def rollout_length(self, updates: int) -> int:
        """``k`` after ``updates`` env steps of learning."""
        return self.config.rollout_schedule.length(updates // self.config.epoch_length)

    def update(
        self, state: MBPOState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[MBPOState, dict[str, Array]]:
        """One env step of learning: refit and roll out when due, then ``G`` SAC steps.

        Host-side: it reads ``state.updates`` to decide; each piece is one compiled call.
        """
        k_fit, k_roll, k_sac = jax.random.split(key, 3)
        updates = int(state.updates)
        metrics: dict[str, Array] = {}
        last_refit = updates - updates % self.config.model_train_every
        window = self.config.model_window(self.rollout_length(last_refit))
        if updates == last_refit:
            params, fit = self.model.fit(state.model_params, buffer.data, buffer.size, k_fit)
            state = state._replace(model_params=params)
            length = self.rollout_length(updates)
            state = state._replace(model_buffer=self.imagine(state, buffer, k_roll, length))
            metrics = {
                **fit,
                "rollout_length": jnp.float32(length),
                "model_buffer_size": jnp.minimum(state.model_buffer.size, window).astype(
                    jnp.float32
                ),
            }
        sac, sac_metrics = self._policy_updates(
            state.sac, state.model_buffer, buffer, k_sac, jnp.int32(window)
        )
        state = state._replace(sac=sac, updates=state.updates + 1)
        return state, {**metrics, **sac_metrics}

    @functools.partial(jax.jit, static_argnums=0)
    def _policy_updates(
        self,
        sac: SACState,
        model_buffer: ReplayBuffer,
        buffer: ReplayBuffer,
        key: PRNGKeyArray,
        window: Int[Array, ""],
    ) -> tuple[SACState, dict[str, Array]]:
        # The buffers are inputs only (never outputs), so nothing big is copied. Model data
        # comes from the newest `window` rows: older rollouts (earlier models and policies)
        # have left the paper's pool.
        n_real = self.config.real_batch_size
        n_model = self.config.sac.batch_size - n_real

        def draw(key: PRNGKeyArray) -> Transition:
            k_real, k_model = jax.random.split(key)
            real = buffer.sample(k_real, n_real)
            imagined = model_buffer.sample_recent(k_model, n_model, window)
            return jax.tree.map(lambda r, m: jnp.concatenate([r, m]), real, imagined)

        return self.learner.update_many(sac, draw, key, self.config.sac.updates_per_step)

    def imagine(
        self, state: MBPOState, buffer: ReplayBuffer, key: PRNGKeyArray, length: int
    ) -> ReplayBuffer:
        """The model buffer after one round of branched rollouts of ``length`` steps from
        states of ``buffer`` (``state.model_buffer`` is donated: use the one returned)."""
        return _imagine(
            self, state.model_params, state.sac, state.model_buffer, buffer, key, length
        )


@functools.partial(jax.jit, static_argnums=(0, 6), donate_argnums=3)
def _imagine(
    agent: MBPO,
    params: EnsembleParams,
    sac: SACState,
    model_buffer: ReplayBuffer,
    buffer: ReplayBuffer,
    key: PRNGKeyArray,
    length: int,
) -> ReplayBuffer:
    # The model buffer is donated: adding rollouts costs their size, not a copy of the buffer.
    k_start, k_roll = jax.random.split(key)
    start = buffer.sample(k_start, agent.config.rollout_batch_size).obs
    sample = jax.vmap(agent.learner.sample, in_axes=(None, 0, 0))

    def policy(obs: Float[Array, "N d"], key: PRNGKeyArray) -> Float[Array, "N A"]:
        return sample(sac, obs, jax.random.split(key, obs.shape[0]))

    rollout = branched_rollout(
        agent.model, params, policy, start, k_roll, length, agent.config.propagation,
        agent.reward_fn, agent.termination_fn,
    )  # fmt: skip
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), rollout.transitions)
    return model_buffer.add_masked(flat, rollout.valid.reshape(-1))
