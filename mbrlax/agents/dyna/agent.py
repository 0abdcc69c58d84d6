"""Tabular Dyna as a runner agent: ``mbrlax train dyna-q`` on any env with discrete
observations and actions (the mazes, FrozenLake, CliffWalking, Taxi).

:class:`DynaAgent` wraps the pure functions of :mod:`mbrlax.agents.dyna.tabular` in the runner's
interface (``init`` / ``begin_episode`` / ``act`` / ``update``, and ``learn`` for
:func:`mbrlax.training.scan_loop.compiled_runs`). The runner calls ``update``
after every env step (``refit_every = 1``) and the agent learns from the newest transition in
the replay buffer, so Dyna gets checkpoints, exact resume, evaluation, plots and sweeps like
every other agent. Evaluation episodes act greedily (``act_eval``), training ones
epsilon-greedily.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from mbrlax.agents.dyna import tabular as dyna
from mbrlax.agents.dyna.tabular import DynaQ, DynaQState, PrioritizedSweeping
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec


def newest(buffer: ReplayBuffer) -> Transition:
    """The transition added last to ``buffer`` (which must not be empty); jittable."""
    return jax.tree.map(lambda x: x[(buffer.ptr - 1) % buffer.capacity], buffer.data)


@dataclasses.dataclass(frozen=True)
class DynaAgent:
    """Tabular Dyna on one env, driven by the runner (see the module docstring).

    Static and hashable: ``act`` and ``update`` compile once.

    Attributes:
        config: the algorithm's hyper-parameters; their type picks it: Dyna-Q
            (``planning_steps = 0`` is Q-learning, ``kappa > 0`` Dyna-Q+) or prioritized
            sweeping, either with a deterministic or a count-based model (``model``).
        spec: the env; it must have discrete observations (``spec.num_states``) and actions.
    """

    config: DynaQ | PrioritizedSweeping
    spec: EnvSpec

    def __post_init__(self):
        if not self.spec.is_tabular:
            raise ValueError(
                f"tabular Dyna needs discrete observations, but {self.spec.env_id} has vector "
                f"observations of shape {self.spec.obs_shape}; use an env with a Discrete "
                "observation space (FrozenLake-v1, CliffWalking-v1, Taxi-v4, mbrlax/DynaMaze-v0)"
                ", or a model-based agent for continuous states (`mbrlax train pets`)."
            )
        if self.spec.is_continuous:
            raise ValueError(
                f"tabular Dyna needs discrete actions, but {self.spec.env_id} has a Box action "
                "space; use an env with Discrete actions."
            )

    def init(self, key: PRNGKeyArray) -> DynaQState:
        del key  # Q = 0 and an empty model: nothing random
        return dyna.init(self.spec.num_states, self.spec.num_actions, self.config.model)

    def begin_episode(self, state: DynaQState) -> DynaQState:
        return state  # nothing is per-episode

    # Acting reads only Q and hands the state back as it is: a jitted function returning the
    # state would copy the model's tables (12 MB of counts for Taxi) at every step.
    def act(
        self, state: DynaQState, obs: Int[Array, ""], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], DynaQState, dict[str, Array]]:
        """Epsilon-greedy in ``Q[obs]``, ties broken at random."""
        return _epsilon_greedy(state.q, obs, self.config.epsilon, key), state, {}

    def act_eval(
        self, state: DynaQState, obs: Int[Array, ""], key: PRNGKeyArray
    ) -> tuple[Int[Array, ""], DynaQState, dict[str, Array]]:
        """Greedy in ``Q[obs]`` (evaluation episodes), ties broken at random."""
        return _greedy(state.q, obs, key), state, {}

    @functools.partial(jax.jit, static_argnums=0)
    def update(
        self, state: DynaQState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[DynaQState, dict[str, Array]]:
        """One real step of Dyna (direct RL, model learning, planning) on the newest
        transition; the runner calls it after every env step."""
        return self.learn(state, newest(buffer), key), {}

    def learn(self, state: DynaQState, t: Transition, key: PRNGKeyArray) -> DynaQState:
        """:meth:`update` on one transition ``t`` (pure; what the compiled runs call)."""
        obs, next_obs = jnp.asarray(t.obs, jnp.int32), jnp.asarray(t.next_obs, jnp.int32)
        action = jnp.asarray(t.action, jnp.int32)
        return dyna.learn(self.config, state, obs, action, t.reward, next_obs, t.terminated, key)


@jax.jit
def _epsilon_greedy(
    q: Array, obs: Int[Array, ""], epsilon: float, key: PRNGKeyArray
) -> Int[Array, ""]:
    return dyna.epsilon_greedy(q[jnp.asarray(obs, jnp.int32)], epsilon, key)


@jax.jit
def _greedy(q: Array, obs: Int[Array, ""], key: PRNGKeyArray) -> Int[Array, ""]:
    return dyna.greedy_action(q[jnp.asarray(obs, jnp.int32)], key)
