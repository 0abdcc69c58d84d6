"""PETS (Chua et al., 2018): model predictive control through a probabilistic ensemble.

Every step, a planner (CEM by default) searches action sequences whose returns are
estimated by propagating particles through the learned ensemble (trajectory sampling);
the first action of the plan is executed. After every episode (or every N steps) the
ensemble is refitted on all the data.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.agents.base import EnsembleModel
from mbrlax.data.buffer import ReplayBuffer
from mbrlax.data.normalizer import Normalizer
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions, check_task
from mbrlax.models.ensemble import EnsembleConfig, EnsembleParams
from mbrlax.models.propagation import particle_dynamics
from mbrlax.planners import CEM, SamplingPlanner


@dataclasses.dataclass(frozen=True)
class PETSConfig:
    """PETS hyper-parameters.

    The defaults are sized for a laptop CPU (5 members of 3 x 64 units, CEM with 200
    candidates of 20 steps, 5 particles: about 50 ms per action on 2 cores) and learn simple
    tasks in a few episodes, a learned reward included. The paper's sizes (7 x 4 x 200 units,
    population 400, 20 particles; over 1 s per action on 2 cores) are :data:`PETS_PAPER`.

    Attributes:
        model: the probabilistic ensemble (set ``probabilistic=False`` for the "DE" variant).
        planner: the optimiser of action sequences (CEM in the paper; iCEM, MPPI or random
            shooting work the same way).
        propagation: how particles move through the ensemble: ``"ts1"`` (each particle keeps
            one member), ``"tsinf"`` (members re-drawn every step) or ``"expectation"``.
        num_particles: particles per candidate action sequence.
        learn_reward: learn the reward even when the env has a known reward function
            (always learned when it has none).
        learn_termination: learn termination even when the env has a known one.
        exploration_bonus: in training episodes (never in evaluation ones), every imagined
            step also earns this many of the data's reward standard deviations per nat of
            the elites' disagreement on the next state at one particle's state
            (:func:`~mbrlax.models.propagation.particle_dynamics`), so the planner seeks
            states the ensemble has not seen; the bonus fades as data fills them. 0 (default)
            plans on the reward alone. Off by default because it has not yet made a localised
            learned reward learnable: on the cart-pole swing-up it drove the cart to far,
            unseen positions (README, the learned-reward benchmark). Needs ``"ts1"`` or
            ``"tsinf"``.
    """

    model: EnsembleConfig = EnsembleConfig(num_members=5, num_elites=5, hidden_sizes=(64, 64, 64))
    planner: SamplingPlanner = CEM(horizon=20, population=200, num_elites=20, iterations=4)
    propagation: Literal["ts1", "tsinf", "expectation"] = "ts1"
    num_particles: int = 5
    learn_reward: bool = False
    learn_termination: bool = False
    exploration_bonus: float = 0.0

    def __post_init__(self):
        bonus = self.exploration_bonus
        if isinstance(bonus, bool) or not isinstance(bonus, int | float) or not bonus >= 0:
            raise ValueError(
                f"exploration_bonus must be >= 0, got "
                f"{self.exploration_bonus}: it weighs a bonus for the ensemble's disagreement; "
                "pass 0 to plan on the reward alone."
            )
        if self.num_particles < 1:
            raise ValueError(
                f"num_particles must be >= 1, got {self.num_particles}: each candidate action "
                "sequence is scored by the mean return of its particles. Pass a positive count, "
                "e.g. --agent.num-particles 20 (the paper's)."
            )


PETS_PAPER = PETSConfig(model=EnsembleConfig(), planner=CEM(), num_particles=20)
"""Paper-sized PETS: 7 members of 4 x 200 swish units (5 elites), CEM with 400 candidates and
40 elites over 5 iterations of a 15-step horizon, 20 particles (Chua et al., 2018, planned 25-30
steps with 400-500 candidates). Over 1 s per action on 2 CPU cores."""


class PETSState(NamedTuple):
    """Agent state: the ensemble's parameters, the planner's warm start, and the standard
    deviation of the rewards in the data at the last refit (the exploration bonus's unit)."""

    model_params: EnsembleParams
    planner_state: Any  # the planner's own state (e.g. GaussianState for CEM)
    reward_scale: Float[Array, ""]


@dataclasses.dataclass(frozen=True)
class PETS(EnsembleModel):
    """The PETS agent for one env (``spec``) and its task functions (``task`` may be None).

    Static and hashable: ``act`` and ``update`` compile once and are reused all run long.
    """

    config: PETSConfig
    spec: EnvSpec
    task: TaskFunctions | None = None

    def __post_init__(self):
        if self.spec.is_tabular:
            raise ValueError(
                f"PETS learns a neural model of vector observations but {self.spec.env_id} "
                f"has discrete ones ({self.spec.num_states} states); use `mbrlax train dyna-q` "
                "(a tabular model), or give the env one-hot Box observations (a small "
                "gymnasium.ObservationWrapper)."
            )
        if not self.spec.is_continuous:
            raise ValueError(
                f"PETS plans continuous actions but {self.spec.env_id} has a Discrete action "
                "space; use an env with Box actions (tabular or tree-search agents handle "
                "discrete ones)."
            )
        if self.task is not None:
            check_task(self.task, self.spec)

    @functools.cached_property
    def planner(self):
        return self.config.planner.build_for(self.spec)

    def init(self, key: PRNGKeyArray) -> PETSState:
        return PETSState(self.model.init(key), self.planner.init(), jnp.zeros(()))

    def begin_episode(self, state: PETSState) -> PETSState:
        return state._replace(planner_state=self.planner.init())

    def _step_fn(self, params: EnsembleParams, bonus_weight: Float[Array, ""] | None = None):
        return particle_dynamics(
            self.model,
            params,
            mode=self.config.propagation,
            num_particles=self.config.num_particles,
            reward_fn=self.reward_fn,
            termination_fn=self.termination_fn,
            bonus_weight=bonus_weight,
        )

    def _plan(self, state: PETSState, obs, key, bonus_weight):
        init_belief, step = self._step_fn(state.model_params, bonus_weight)
        belief = init_belief(jnp.asarray(obs, jnp.float32))
        action, pstate, info = self.planner.plan(state.planner_state, step, belief, key)
        return action, state._replace(planner_state=pstate), info

    @functools.partial(jax.jit, static_argnums=0)
    def act(
        self, state: PETSState, obs: Float[Array, " obs_dim"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], PETSState, dict[str, Array]]:
        """Plan from ``obs`` through the ensemble, the exploration bonus included (training
        episodes); returns ``(action [A], state, info)``."""
        bonus = self.config.exploration_bonus
        weight = None if bonus == 0 else bonus * state.reward_scale
        return self._plan(state, obs, key, weight)

    @functools.partial(jax.jit, static_argnums=0)
    def act_eval(
        self, state: PETSState, obs: Float[Array, " obs_dim"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], PETSState, dict[str, Array]]:
        """Plan on the reward alone (evaluation episodes)."""
        return self._plan(state, obs, key, None)

    def update(
        self, state: PETSState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[PETSState, dict[str, Array]]:
        """Refit the ensemble on everything in ``buffer`` and measure the rewards' spread."""
        params, metrics = self.model.fit(state.model_params, buffer.data, buffer.size, key)
        return state._replace(model_params=params, reward_scale=_reward_std(buffer)), metrics


@jax.jit
def _reward_std(buffer: ReplayBuffer) -> Float[Array, ""]:
    """Standard deviation of the rewards in the buffer's filled rows."""
    filled = jnp.arange(buffer.data.reward.shape[0]) < buffer.size
    return jnp.sqrt(Normalizer.create(()).update(buffer.data.reward, filled).var)
