"""Model predictive control with a known model: replan at every step, execute the first action.

``mpc_rollout`` runs a whole closed-loop episode of a JAX-native env as one compiled
``lax.scan``: at each step the planner optimises a sequence from the env's current state
through ``model_step`` (by default the env itself, i.e. the exact model), the first action is
executed in the env, and the planner's state carries the shifted plan to the next step as its
warm start (every mbrlax planner shifts its own plan inside ``plan``).

    env = make_jax_env("mbrlax/Pendulum-v0")
    planner = CEM(horizon=20).build_for(env.spec)
    state, _ = env.reset(key)
    traj = jax.jit(mpc_rollout, static_argnums=(0, 1, 4))(env, planner, state, key, 200)
    traj.episode_return          # [] the return, rewards after termination excluded

:class:`KnownModelMPC` is the same controller as an agent the runner drives (``mbrlax train
mpc``): it sees observations, recovers the model's state from them
(``JaxEnv.state_from_obs``) and plans through the JAX env given as its model; it learns
nothing, so its first episode is as good as its last.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.agents.base import check_known_model
from mbrlax.data.buffer import ReplayBuffer
from mbrlax.envs.base import EnvState, JaxEnv, as_step_fn
from mbrlax.envs.spec import EnvSpec
from mbrlax.planners import CEM, KnownModelPlanner
from mbrlax.planners.base import Planner, StepFn, TerminalValueFn


class MPCTrajectory(NamedTuple):
    """One closed-loop episode (``T`` steps, horizon ``H``).

    Attributes:
        states: the env states, every leaf with a leading axis ``T + 1`` (the start first).
        actions: ``[T, A]`` executed actions.
        rewards: ``[T]`` rewards received (also after termination, see ``alive``).
        alive: ``[T]`` True where the episode had not terminated before that step.
        plans: ``[T, H, A]`` the sequence the planner chose at each step (its first action is
            the one executed): what it expected to do, for pictures of predicted vs realised.
            MCTS keeps no sequence: ``[T, 1]``, the executed action (SampledMCTS keeps its
            tree's most visited path, completed by the previous plan).
        expected_returns: ``[T]`` the planner's estimate of each chosen sequence's return.
    """

    states: EnvState
    actions: Float[Array, "T A"]
    rewards: Float[Array, " T"]
    alive: Bool[Array, " T"]
    plans: Float[Array, "T H A"]
    expected_returns: Float[Array, " T"]

    @property
    def episode_return(self) -> Float[Array, ""]:
        """``[]`` the sum of rewards up to and including the terminating step."""
        return jnp.sum(jnp.where(self.alive, self.rewards, 0.0))


class _MPCCarry(NamedTuple):
    state: EnvState
    pstate: Any  # the planner's own state type
    alive: Bool[Array, ""]


def mpc_rollout(
    env: JaxEnv,
    planner: Planner,
    start: EnvState,
    key: PRNGKeyArray,
    num_steps: int,
    model_step: StepFn | None = None,
) -> MPCTrajectory:
    """Run ``num_steps`` of MPC from env state ``start``; see :class:`MPCTrajectory`.

    Args:
        env: the JAX-native env that is acted in (the "real world").
        planner: a built planner (``config.build_for(env.spec)``); it starts from
            ``planner.init()``.
        start: the env state to start from (e.g. from ``env.reset``).
        key: split into one key per step for the planner.
        num_steps: episode length ``T`` (static).
        model_step: what the planner plans with; default ``as_step_fn(env)``, the exact model.
            Pass a mismatched model (other physical constants) to see model error at work.
    """
    step = as_step_fn(env) if model_step is None else model_step

    def body(carry: _MPCCarry, k: PRNGKeyArray) -> tuple[_MPCCarry, tuple[Any, ...]]:
        action, pstate, info = planner.plan(carry.pstate, step, carry.state, k)
        out = env.step(carry.state, action)
        # The chosen sequence: the executed action, then the rest the planner kept (shifted).
        if planner.sequence is not None:
            kept = planner.sequence(pstate)
            plan = jnp.concatenate([action[None].astype(kept.dtype), kept[:-1]])
        else:  # a search over discrete actions keeps no sequence
            plan = jnp.reshape(action, (1,))
        expected = info.get("expected_return", jnp.asarray(jnp.nan, jnp.float32))
        alive_next = carry.alive & ~jnp.asarray(out.terminated, bool)
        record = (out.state, action, out.reward, carry.alive, plan, expected)
        return _MPCCarry(out.state, pstate, alive_next), record

    init = _MPCCarry(start, planner.init(), jnp.array(True))
    _, (states, actions, rewards, alive, plans, expected) = jax.lax.scan(
        body, init, jax.random.split(key, num_steps)
    )
    states = jax.tree.map(lambda s0, s: jnp.concatenate([jnp.asarray(s0)[None], s]), start, states)
    return MPCTrajectory(states, actions, rewards, alive, plans, expected)


def observed_value(
    model: JaxEnv, value: Callable[[Float[Array, " d"]], Float[Array, ""]]
) -> TerminalValueFn:
    """A value function of observations (a critic, a value network) as one of ``model``'s
    states: ``s -> value(model.observe(s))``, the ``terminal_value`` a planner takes.

        value = observed_value(model, sac_value_fn(sac.learner, sac_state))
        planner = CEM(horizon=5).build(low, high, terminal_value=value)
    """

    def terminal_value(state: EnvState) -> Float[Array, ""]:
        return jnp.asarray(value(model.observe(state)), jnp.float32)

    return terminal_value


@dataclasses.dataclass(frozen=True)
class MPCConfig:
    """Known-model MPC hyper-parameters.

    Attributes:
        planner: the planner run at every step: for Box actions any trajectory optimiser
            (iLQR, DDP, collocation and gradient shooting need a differentiable model, which
            every mbrlax JAX env is) or SampledMCTS (tree search over sampled actions), for
            Discrete actions MCTS.
    """

    planner: KnownModelPlanner = CEM()


class MPCState(NamedTuple):
    """Agent state: only the planner's warm start (nothing is learned)."""

    planner_state: Any  # the planner's own state type (e.g. GaussianState, MCTSState)


@dataclasses.dataclass(frozen=True)
class KnownModelMPC:
    """MPC through a known JAX model, as an agent for the runner (see the module docstring).

    Static and hashable: ``act`` compiles once.

    Attributes:
        config: the planner.
        spec: the env acted in; its observations must be the model's (same shapes and
            meaning), e.g. Gymnasium's ``Pendulum-v1`` with the model ``mbrlax/Pendulum-v0``.
        model: the JAX env planned through; it must implement ``state_from_obs``.
        terminal_value: optional ``V(s) -> []`` on the model's states, e.g. a learned critic
            through :func:`observed_value`: added to each planned sequence's return at the
            end of the horizon (for MCTS: the value of its leaves), so a short horizon sees
            what lies beyond it. Background planning (a value learned from experience, real
            or imagined) meets decision-time planning here.
    """

    config: MPCConfig
    spec: EnvSpec
    model: JaxEnv
    terminal_value: TerminalValueFn | None = None

    def __post_init__(self):
        discrete_search = self.config.planner.discrete_actions
        if not self.spec.is_continuous and not discrete_search:
            raise ValueError(
                f"{type(self.config.planner).__name__} plans continuous actions but "
                f"{self.spec.env_id} has a Discrete action space; choose agent.planner:mcts "
                "(tree search over discrete actions)."
            )
        if self.spec.is_continuous and discrete_search:
            raise ValueError(
                f"MCTS searches over discrete actions but {self.spec.env_id} has Box actions; "
                "choose agent.planner:sampled-mcts (tree search over sampled continuous "
                "actions) or a trajectory optimiser such as agent.planner:cem or "
                "agent.planner:mppi."
            )
        check_known_model(self.spec, self.model)

    @functools.cached_property
    def planner(self) -> Planner:
        return self.config.planner.build_for(self.spec, self.terminal_value)

    def init(self, key: PRNGKeyArray) -> MPCState:
        del key  # nothing random to initialise
        return MPCState(self.planner.init())

    def begin_episode(self, state: MPCState) -> MPCState:
        return MPCState(self.planner.init())

    @functools.partial(jax.jit, static_argnums=0)
    def act(
        self, state: MPCState, obs: Float[Array, " obs_dim"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], MPCState, dict[str, Array]]:
        """Plan from the state of ``obs`` through the model; ``(action [A], state, info)``."""
        model_state = self.model.state_from_obs(jnp.asarray(obs, jnp.float32))
        action, pstate, info = self.planner.plan(
            state.planner_state, as_step_fn(self.model), model_state, key
        )
        return action, MPCState(pstate), info

    def update(
        self, state: MPCState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[MPCState, dict[str, Array]]:
        """Nothing to learn: the model is given."""
        del buffer, key
        return state, {}
