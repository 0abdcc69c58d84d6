"""What the planner pictures draw, computed without matplotlib: the states a planner predicted
along an MPC episode (:func:`predicted_states`), the MPPI decision at a step of one
(:func:`mppi_decision_at`) and the samples of that decision with their futures
(:func:`mppi_fan`), and the checks that say what is wrong with a picture's inputs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from mbrlax.agents.mpc import MPCTrajectory
from mbrlax.envs.base import EnvError, EnvState, JaxEnv, as_step_fn
from mbrlax.envs.bicycle import Bicycle
from mbrlax.envs.pendulum import Pendulum
from mbrlax.planners._rollout import sequence_states, shift_plan
from mbrlax.planners.base import GaussianState, Planner, StepFn, TerminalValueFn
from mbrlax.planners.mppi import MPPI, MPPIIteration, mppi_samples

if TYPE_CHECKING:
    pass

# Axis labels (with units) for the envs whose state fields we know; others use field names.
STATE_LABELS: dict[type, tuple[str, ...]] = {
    Pendulum: ("θ from upright (rad)", "θ' (rad/s)"),
    Bicycle: ("x (m)", "y (m)", "heading ψ (rad)", "steering δ (rad)"),
}


ACTION_LABELS: dict[type, tuple[str, ...]] = {
    Pendulum: ("torque",),
    Bicycle: ("speed v (m/s)", "steer rate (rad/s)"),
}


@functools.partial(jax.jit, static_argnames="step")
def predicted_states(traj: MPCTrajectory, step: StepFn, key: PRNGKeyArray) -> EnvState:
    """What the planner expected at every step: ``traj.plans[t]`` rolled out from
    ``traj.states[t]`` through ``step``.

    Args:
        traj: an episode of :func:`mbrlax.agents.mpc.mpc_rollout` (``T`` steps, horizon ``H``).
        step: the model the plans are rolled out through, e.g. ``as_step_fn(env)`` (exact) or
            the ``model_step`` the episode was planned with.
        key: split into one key per step ``t`` (ignored by a deterministic ``step``).

    Compiled once per ``step`` (a static argument) and shape of ``traj``.

    Returns:
        the env state pytree with leading axes ``[T, H + 1]`` on every leaf: entry ``[t, k]``
        is the state predicted ``k`` steps after ``t`` (``[t, 0]`` is ``traj.states[t]``).
    """
    starts = jax.tree.map(lambda s: s[:-1], traj.states)
    keys = jax.random.split(key, traj.plans.shape[0])
    return jax.vmap(lambda s, a, k: sequence_states(step, s, a, k))(starts, traj.plans, keys)


class MPPIFan(NamedTuple):
    """Everything the fan picture draws, on the host."""

    iteration: MPPIIteration  # of the drawn iteration: samples [N, H, A], weights [N], ...
    sample_states: Any  # leaves [N, H + 1, ...]
    mean_states: Any  # leaves [H + 1, ...]
    plan_states: Any  # leaves [H + 1, ...]


def mppi_decision_at(
    env: JaxEnv, config: MPPI, traj: MPCTrajectory, key: PRNGKeyArray, t: int
) -> tuple[EnvState, GaussianState, PRNGKeyArray]:
    """``(state, pstate, key)`` of the ``plan`` call MPPI made at step ``t`` of ``traj``, an
    episode of ``mpc_rollout(env, config.build(...), start, key, T)``: pass them to
    :func:`plot_mppi_fan` to draw that very decision.

    MPPI keeps its noise scale, and ``plan`` leaves ``shift_plan(chosen plan, mid-point)`` as
    the next warm start, so the planner state at ``t`` follows from ``traj.plans[t - 1]``;
    ``mpc_rollout`` gives step ``t`` the key ``jax.random.split(key, T)[t]``.
    """
    num_steps = traj.actions.shape[0]
    if not (isinstance(t, int) and 0 <= t < num_steps):
        raise ValueError(f"t must be a step of the episode, in [0, {num_steps}), got {t!r}.")
    low, high = env.spec.action_bounds()
    pstate = check_mppi(config).build(low, high).init()
    if t > 0:
        mid = jax.numpy.asarray((low + high) / 2)
        pstate = pstate._replace(mean=shift_plan(traj.plans[t - 1], mid))
    state = jax.tree.map(lambda s: s[t], traj.states)
    return state, pstate, jax.random.split(key, num_steps)[t]


@functools.partial(jax.jit, static_argnames=("config", "bounds", "terminal_value", "step", "index"))
def mppi_fan(
    config: MPPI,
    bounds: tuple[tuple[float, ...], tuple[float, ...]],
    terminal_value: TerminalValueFn | None,
    step: StepFn,
    index: int,
    pstate: GaussianState,
    state: EnvState,
    key: PRNGKeyArray,
) -> MPPIFan:
    """The samples of iteration ``index`` of ``plan(pstate, step, state, key)`` and the futures
    they were scored on (the same keys, so also under a stochastic ``step``). Compiled once per
    static argument (``bounds``: the action bounds as tuples, so they hash)."""
    low, high = (np.asarray(b, np.float32) for b in bounds)
    its = mppi_samples(config, low, high, pstate, step, state, key, terminal_value)
    it = jax.tree.map(lambda x: x[index], its)
    keys = jax.random.split(it.eval_key, config.population)
    samples = jax.vmap(lambda a, k: sequence_states(step, state, a, k))(it.samples, keys)
    # plan() scores the chosen plan with the last of its keys, as the first of one candidate.
    final_key = jax.random.split(jax.random.split(key, config.iterations + 1)[-1], 1)[0]
    return MPPIFan(
        iteration=it._replace(eval_key=None),  # keys do not go to numpy; spent anyway
        sample_states=samples,
        mean_states=sequence_states(step, state, it.mean, final_key),
        plan_states=sequence_states(step, state, it.plan, final_key),
    )


@functools.lru_cache(maxsize=32)
def exact_model(env: JaxEnv) -> StepFn:
    """``as_step_fn(env)``, one function per (hashable, immutable) env, so compiled pictures
    are reused across calls rather than compiled again for a new closure."""
    return as_step_fn(env)


def check_env(env: Any, what: str) -> JaxEnv:
    if not isinstance(env, JaxEnv):
        raise EnvError(
            f"{what} needs a JAX-native env (an mbrlax.envs.JaxEnv) to roll plans out through, "
            f"got {type(env).__name__}; use e.g. mbrlax.envs.make_jax_env('mbrlax/Pendulum-v0')."
        )
    if not env.spec.is_continuous:
        raise EnvError(f"{what} draws continuous actions; {env.spec.env_id} has discrete ones.")
    return env


def _state_template(env: JaxEnv) -> Any:
    """Shapes and dtypes of one env state (``env.reset``'s), without running anything."""
    return jax.eval_shape(env.reset, jax.random.key(0))[0]


def check_state(env: JaxEnv, state: EnvState, lead: tuple[int, ...], what: str) -> None:
    """Raise ``ValueError`` unless ``state`` is one env state with leading axes ``lead``."""
    template = _state_template(env)
    want = jax.tree.structure(template)
    got = jax.tree.structure(state)
    shapes = [tuple(np.shape(x)) for x in jax.tree.leaves(state)]
    expected = [(*lead, *t.shape) for t in jax.tree.leaves(template)]
    if got != want or shapes != expected:
        raise ValueError(
            f"{what} must be {type(template).__name__} states of {type(env).__name__} with leaf "
            f"shapes {expected} (leading axes {list(lead)}), got {got} with leaf shapes {shapes}."
        )


def check_trajectory(env: JaxEnv, traj: MPCTrajectory) -> tuple[int, int]:
    """``(T, H)`` of an episode of ``env``; ``ValueError`` saying what is inconsistent."""
    if not isinstance(traj, MPCTrajectory):
        raise TypeError(
            f"traj must be an MPCTrajectory (from mbrlax.agents.mpc.mpc_rollout), got "
            f"{type(traj).__name__}."
        )
    plans, actions = np.shape(traj.plans), np.shape(traj.actions)
    action_dim = env.spec.action_dim
    if len(actions) != 2 or actions[1] != action_dim:
        raise ValueError(
            f"traj.actions must have shape [T, {action_dim}] for {env.spec.env_id}, got "
            f"{actions}; was the episode run in another env, or batched over seeds (then "
            "pick one: jax.tree.map(lambda x: x[i], traj))?"
        )
    num_steps = actions[0]
    if len(plans) != 3 or plans[0] != num_steps or plans[2] != action_dim:
        raise ValueError(
            f"traj.plans must have shape [T, H, A] = [{num_steps}, H, {action_dim}] to match "
            f"traj.actions {actions}, got {plans}."
        )
    if num_steps < 1:
        raise ValueError("traj has no steps (T = 0): run mpc_rollout for at least one step.")
    check_state(env, traj.states, (num_steps + 1,), "traj.states")
    return num_steps, plans[1]


def check_mppi(config: Any) -> MPPI:
    if isinstance(config, Planner):
        raise TypeError(
            "plot_mppi_fan needs the MPPI config (e.g. MPPI(horizon=20)), not the built "
            "Planner: it redoes the planner's sampling, which the (init, plan) pair hides."
        )
    if not isinstance(config, MPPI):
        raise TypeError(f"config must be an mbrlax.planners.MPPI, got {type(config).__name__}.")
    return config


def resolve_step(
    env: JaxEnv, model_step: StepFn | None, key: PRNGKeyArray | None
) -> tuple[StepFn, PRNGKeyArray]:
    if model_step is None:
        # The exact model ignores its key; any key gives the same (deterministic) prediction.
        return exact_model(env), jax.random.key(0) if key is None else key
    if key is None:
        raise ValueError(
            "pass key= with model_step: a learned model may be stochastic, and its predictions "
            "then depend on the key (one is split per replanning step)."
        )
    return model_step, key


def state_components(
    states: Any, lead: int, labels: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """The state's scalar components as ``[*lead_axes, D]`` numpy, and a label for each."""
    leaves_with_path = jax.tree_util.tree_flatten_with_path(states)[0]
    columns, names = [], []
    for path, leaf in leaves_with_path:
        leaf = np.asarray(leaf, dtype=np.float64)
        flat = leaf.reshape(*leaf.shape[:lead], -1)
        name = "".join(str(p) for p in path).lstrip(".") or "state"
        columns.append(flat)
        names += [name] if flat.shape[-1] == 1 else [f"{name}[{i}]" for i in range(flat.shape[-1])]
    values = np.concatenate(columns, axis=-1)
    if labels is not None:
        if len(labels) != values.shape[-1]:
            raise ValueError(
                f"state_labels has {len(labels)} entries but the state has {values.shape[-1]} "
                f"components ({', '.join(names)})."
            )
        names = list(labels)
    return values, names


def default_labels(env: JaxEnv) -> tuple[tuple[str, ...] | None, list[str]]:
    actions = ACTION_LABELS.get(type(env))
    if actions is None:
        actions = tuple(f"action[{i}]" for i in range(env.spec.action_dim))
    return STATE_LABELS.get(type(env)), list(actions)
