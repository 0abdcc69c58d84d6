"""What the runner needs from an agent: pure functions of an explicit agent-state pytree."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.base import JaxEnv
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions
from mbrlax.models.base import TaskFn
from mbrlax.models.ensemble import EnsembleConfig, ProbabilisticEnsemble
from mbrlax.training.config import Preset, RunnerConfig

AgentState = Any


class Agent(Protocol):
    """The interface the runner drives.

    ``act`` is called every env step (it should be jitted inside the agent); ``update`` is
    called by the runner when it is time to learn (for PETS: refit the model). The replay
    buffer belongs to the runner, which passes it to ``update``. An agent may also define
    ``act_eval`` for evaluation episodes (see :func:`eval_act`).
    """

    def init(self, key: PRNGKeyArray) -> AgentState:
        """A fresh agent state."""
        ...

    def begin_episode(self, state: AgentState) -> AgentState:
        """Reset per-episode parts of the state (e.g. a planner's warm start)."""
        ...

    def act(
        self, state: AgentState, obs: Float[Array, " obs_dim"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], AgentState, dict[str, Array]]:
        """Choose an action for one observation; returns ``(action [A], state, info)``."""
        ...

    def update(
        self, state: AgentState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[AgentState, dict[str, Array]]:
        """Learn from the data in ``buffer``; returns ``(state, metrics)``."""
        ...


class OnlineAgent(Agent, Protocol):
    """An agent that learns from each transition as it comes (tabular Dyna): besides
    ``update`` (the newest transition of the runner's buffer) it has the pure ``learn`` on one
    transition, so :func:`mbrlax.training.scan_loop.compiled_runs` can run its whole loop
    compiled."""

    spec: EnvSpec

    def learn(self, state: AgentState, t: Transition, key: PRNGKeyArray) -> AgentState:
        """One real step of learning from transition ``t``; jittable."""
        ...


class AgentContext(NamedTuple):
    """What an agent's constructor may need besides its config; the training layer makes it.

    Attributes:
        spec: the env's observations, actions and time limit.
        env_id: the env's id.
        task: the reward and termination functions mbrlax knows for ``env_id``, or ``None``
            (a user's env: a model-based agent then learns them).
        model: the JAX-native env planned through, for an agent that plans through a known
            model (``AgentEntry.known_model``); ``None`` otherwise.
        buffer_capacity: rows of the runner's replay buffer (an agent whose state is sized by
            the data, as PILCO's GP, needs it).
    """

    spec: EnvSpec
    env_id: str
    task: TaskFunctions | None
    model: JaxEnv | None
    buffer_capacity: int


@dataclasses.dataclass(frozen=True)
class AgentEntry:
    """Everything the training layer, the CLI, sweeps and docs know about one agent, declared
    in the agent's folder (``ENTRY`` in its ``__init__.py``) and listed by
    :mod:`mbrlax.agents.registry`. Nothing outside the folder names the agent.

    Attributes:
        name: the name on the command line (``mbrlax train NAME``).
        label: the agent's name in prose and in its experiment type (``PETSExperiment``).
        config: the agent's config type, a frozen dataclass (or a union of them: the CLI then
            offers one subcommand per type, as ``agent:dyna-q``).
        make: ``make(config, context) -> agent``, the agent for one env.
        preset: ``preset(env_id) -> Preset``: the defaults for ``env_id`` (its own, or the
            general ones for any other env, a user's own included).
        default_env: the env a run uses when none is given.
        title: what the agent does, in one sentence: the first line of ``--help``.
        usage: the example line in ``mbrlax --help``.
        env_help: which envs suit the agent (the ``--env`` help).
        agent_help: the help of the ``agent`` options.
        runner_help: the help of the run's options (run length, warm-up, when it learns).
        saved: what ``final_model.eqx`` keeps of the agent state, as a function that picks
            it (``lambda s: s.model_params``; a tuple for several parts); ``None`` when the
            agent learns nothing. Loading puts the saved part back in the same place.
        saved_help: what that is, in words.
        runner: the run's settings of a run made without a preset.
        known_model: for an agent that plans through a known model (a JAX-native env given
            by ``--model``, by default the env itself), what it does there, for messages
            ("MPC plans"); empty for an agent that needs no known model.
        learned_instead: for such an agent, the agent that learns its model instead (named
            when no known model is at hand).
        compiled_runs: ``--runs N`` trains N seeds as one compiled computation (an
            :class:`OnlineAgent` on a JAX-native env).
        pixels: whether the agent learns from RGB-frame observations (``ID?pixels=64``);
            others are refused such an env with a message naming those that do.
        check: ``check(config, runner)`` raises ``ValueError`` saying what to do if the
            run's settings cannot work for the agent (e.g. SAC learning once per episode),
            before any run directory is made; ``None``: nothing to check.
    """

    name: str
    label: str
    config: Any
    make: Callable[[Any, AgentContext], Agent]
    preset: Callable[[str], Preset]
    default_env: str
    title: str
    usage: str
    env_help: str
    agent_help: str
    runner_help: str
    saved: Callable[[AgentState], Any] | None
    saved_help: str
    runner: RunnerConfig = RunnerConfig()
    known_model: str = ""
    learned_instead: str = ""
    compiled_runs: bool = False
    pixels: bool = False
    check: Callable[[Any, RunnerConfig], None] | None = None


def learns_every_step(name: str, why: str, at_least: bool = False) -> Callable[[Any, Any], None]:
    """An :attr:`AgentEntry.check` refusing a run that does not learn after every env step:
    ``refit_every`` must be 1 (or, with ``at_least``, any positive count of steps)."""

    def check(config: Any, runner: RunnerConfig) -> None:
        del config
        ok = runner.refit_every >= 1 if at_least else runner.refit_every == 1
        if not ok:
            once = "; 0 would learn only once per episode" if at_least else ""
            raise ValueError(
                f"{name} learns after every env step{why}: use --refit-every 1 (got "
                f"{runner.refit_every}{once})."
            )

    return check


def unit_to_env(spec: EnvSpec, unit: Float[Array, "... A"]) -> Float[Array, "... A"]:
    """An action in ``[-1, 1]^A`` (clipped there) in ``spec``'s bounds: what agents whose
    networks act in the unit box (Dreamer, TD-MPC2) send to the env."""
    low, high = spec.action_bounds()
    return low + (jnp.clip(unit, -1.0, 1.0) + 1.0) * (high - low) / 2.0


def env_to_unit(spec: EnvSpec, action: Float[Array, "... A"]) -> Float[Array, "... A"]:
    """An env action in ``[-1, 1]^A`` (the inverse of :func:`unit_to_env`, clipped)."""
    low, high = spec.action_bounds()
    return jnp.clip(2.0 * (action - low) / (high - low) - 1.0, -1.0, 1.0)


def eval_act(agent: Agent) -> Callable[..., Any]:
    """The ``act`` of evaluation episodes: the agent's optional ``act_eval`` (same signature
    as ``act``; e.g. greedy where training explores), else its ``act``."""
    return getattr(agent, "act_eval", agent.act)


def check_sequence_warmup(label: str, batch_length: int, runner: RunnerConfig) -> None:
    """``ValueError`` unless the warm-up collects one training sequence of ``batch_length``
    steps (agents trained on replayed sequences: PlaNet, Dreamer)."""
    if runner.warmup_steps < batch_length:
        raise ValueError(
            f"{label} trains on sequences of {batch_length} steps and the warm-up collects "
            f"{runner.warmup_steps}; raise --warmup-steps to at least {batch_length} or lower "
            "--agent.batch-length."
        )


def known_task_fns(
    task: TaskFunctions | None, learn_reward: bool, learn_termination: bool
) -> tuple[TaskFn | None, TaskFn | None]:
    """``(reward_fn, termination_fn)`` a model-based agent uses as known: the task's, unless
    it has none (a reward hidden from observations) or the agent is told to learn it."""
    reward = None if learn_reward or task is None else task.reward
    termination = None if learn_termination or task is None else task.termination
    return reward, termination


def ensemble_for(
    config: EnsembleConfig, spec: EnvSpec, reward_fn: TaskFn | None, termination_fn: TaskFn | None
) -> ProbabilisticEnsemble:
    """The ensemble of ``config`` for ``spec``, with a learned reward head where no known
    reward function is used, and a learned termination head likewise."""
    heads = dataclasses.replace(
        config, learn_reward=reward_fn is None, learn_termination=termination_fn is None
    )
    return ProbabilisticEnsemble(heads, spec.obs_dim, spec.action_dim)


class EnsembleModel:
    """The model of an agent that learns a probabilistic ensemble (PETS, MBPO): the known
    reward and termination of its ``task`` it uses (unless ``config.learn_reward`` /
    ``config.learn_termination``), and the ensemble of ``config.model`` with heads for the
    rest. Mixed into a frozen agent dataclass with ``config``, ``spec`` and ``task``."""

    config: Any
    spec: EnvSpec
    task: TaskFunctions | None

    @property
    def reward_fn(self) -> TaskFn | None:
        """The known reward the model uses, or None (then it learns one)."""
        return known_task_fns(self.task, self.config.learn_reward, False)[0]

    @property
    def termination_fn(self) -> TaskFn | None:
        """The known termination the model uses, or None (then it learns one)."""
        return known_task_fns(self.task, False, self.config.learn_termination)[1]

    @functools.cached_property
    def model(self) -> ProbabilisticEnsemble:
        return ensemble_for(self.config.model, self.spec, self.reward_fn, self.termination_fn)


def polyak(target: PyTree, online: PyTree, tau: float) -> PyTree:
    """Polyak averaging of target networks: ``(1 - tau) target + tau online``, leaf by leaf."""
    return jax.tree.map(lambda t, p: (1.0 - tau) * t + tau * p, target, online)


def scan_updates(
    update_step: Callable[[Any, ReplayBuffer, PRNGKeyArray], tuple[Any, dict[str, Array]]],
    state: AgentState,
    buffer: ReplayBuffer,
    key: PRNGKeyArray,
    num_updates: int,
) -> tuple[AgentState, dict[str, Array]]:
    """``num_updates`` calls of ``update_step(state, buffer, key)`` in one ``lax.scan``, each
    with its own key; returns the last state and the metrics averaged over the steps."""
    state, metrics = jax.lax.scan(
        lambda s, k: update_step(s, buffer, k), state, jax.random.split(key, num_updates)
    )
    return state, jax.tree.map(jnp.mean, metrics)


def check_known_model(spec: EnvSpec, model: JaxEnv) -> None:
    """Raise ``ValueError`` unless the JAX env ``model`` can stand for the env of ``spec``: the
    same observations and actions, and observations it can recover its state from."""
    mspec = model.spec
    same = (mspec.obs_shape, mspec.action_shape, mspec.num_actions) == (
        spec.obs_shape, spec.action_shape, spec.num_actions,
    )  # fmt: skip
    if not same:

        def actions(s: EnvSpec) -> str:
            return f"actions {s.action_shape}" if s.is_continuous else f"{s.num_actions} actions"

        raise ValueError(
            f"the model {mspec.env_id} (observations {mspec.obs_shape}, {actions(mspec)}) "
            f"does not match the env {spec.env_id} (observations {spec.obs_shape}, "
            f"{actions(spec)}); choose a model whose observations and actions are the env's."
        )
    # Traced, not run: an env that cannot recover its state raises, saying what to do.
    jax.eval_shape(model.state_from_obs, jax.ShapeDtypeStruct(mspec.obs_shape, jnp.float32))
