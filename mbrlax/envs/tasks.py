"""Known task functions (reward, termination) of standard envs, as pure JAX functions.

Every function works on one transition and is batched with ``vmap``::

    reward(obs [d], action [A], next_obs [d]) -> []
    termination(obs [d], action [A], next_obs [d]) -> [] bool

Each was written from the env's Gymnasium source (gymnasium 1.x), including which state the
reward is computed on (before or after the step) and whether it sees the clipped action.
Where the reward needs state that the observation hides, ``reward`` is ``None`` and mbrlax
learns it; the termination is still exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from mbrlax.envs.acrobot import reward_fn as acrobot_reward
from mbrlax.envs.base import EnvError
from mbrlax.envs.bicycle import reward_fn as bicycle_reward
from mbrlax.envs.cartpole_swingup import POLE_LENGTH, swingup_reward
from mbrlax.envs.spec import EnvSpec

RewardFn = Callable[[Float[Array, " d"], Float[Array, " A"], Float[Array, " d"]], Float[Array, ""]]
"""A known reward of one transition: ``(obs [d], action [A], next_obs [d]) -> []``."""
TerminationFn = Callable[
    [Float[Array, " d"], Float[Array, " A"], Float[Array, " d"]], Bool[Array, ""]
]
"""A known termination of one transition: ``(obs [d], action [A], next_obs [d]) -> []`` bool."""
TaskFn = RewardFn | TerminationFn
"""Either of them: what a model takes as ``reward_fn`` or ``termination_fn``."""


@dataclasses.dataclass(frozen=True)
class TaskFunctions:
    """Reward and termination of one env as functions of ``(obs, action, next_obs)``.

    Attributes:
        reward: ``(obs [d], action [A], next_obs [d]) -> []``, or ``None`` when it cannot be
            computed from observations (mbrlax then learns it).
        termination: ``(obs [d], action [A], next_obs [d]) -> []`` bool.
        reward_exact: whether ``reward`` reproduces the env's reward exactly.
        note: where the functions come from and what they cannot see.
    """

    reward: RewardFn | None
    termination: TerminationFn
    reward_exact: bool
    note: str = ""


def never_terminates(
    obs: Float[Array, " d"], action: Float[Array, " A"], next_obs: Float[Array, " d"]
) -> Bool[Array, ""]:
    """Termination of envs that only end by their time limit."""
    return jnp.array(False)


def pendulum_reward(
    obs: Float[Array, " 3"], action: Float[Array, " 1"], next_obs: Float[Array, " 3"]
) -> Float[Array, ""]:
    """Pendulum-v1: ``-(th^2 + 0.1 th_dot^2 + 0.001 u^2)`` on the state *before* the step."""
    theta = jnp.arctan2(obs[1], obs[0])  # = Gymnasium's angle_normalize(th) in (-pi, pi]
    u = jnp.clip(action[0], -2.0, 2.0)
    return -(theta**2 + 0.1 * obs[2] ** 2 + 0.001 * u**2)


def mountain_car_termination(
    obs: Float[Array, " 2"], action: Float[Array, " 1"], next_obs: Float[Array, " 2"]
) -> Bool[Array, ""]:
    """MountainCarContinuous-v0: reached ``position >= 0.45`` with ``velocity >= 0``."""
    return (next_obs[0] >= 0.45) & (next_obs[1] >= 0.0)


def mountain_car_reward(
    obs: Float[Array, " 2"], action: Float[Array, " 1"], next_obs: Float[Array, " 2"]
) -> Float[Array, ""]:
    """MountainCarContinuous-v0: ``100`` at the goal, minus ``0.1 a^2`` (``a`` unclipped)."""
    bonus = jnp.where(mountain_car_termination(obs, action, next_obs), 100.0, 0.0)
    return bonus - 0.1 * action[0] ** 2


def inverted_pendulum_termination(
    obs: Float[Array, " 4"], action: Float[Array, " 1"], next_obs: Float[Array, " 4"]
) -> Bool[Array, ""]:
    """InvertedPendulum-v5: pole angle ``|next_obs[1]| > 0.2`` or a non-finite observation."""
    return ~jnp.all(jnp.isfinite(next_obs)) | (jnp.abs(next_obs[1]) > 0.2)


def inverted_pendulum_reward(
    obs: Float[Array, " 4"], action: Float[Array, " 1"], next_obs: Float[Array, " 4"]
) -> Float[Array, ""]:
    """InvertedPendulum-v5: 1 per step survived, 0 on the terminating step."""
    return 1.0 - inverted_pendulum_termination(obs, action, next_obs).astype(next_obs.dtype)


def hopper_termination(
    obs: Float[Array, " 11"], action: Float[Array, " 3"], next_obs: Float[Array, " 11"]
) -> Bool[Array, ""]:
    """Hopper-v5: unhealthy after the step (z <= 0.7, |angle| >= 0.2, or |state| >= 100).

    ``next_obs = [z, angle, 3 joint angles, 6 velocities clipped to +-10]``; the env checks the
    unclipped velocities against 100, which only differs for velocities beyond 100.
    """
    z, angle, state = next_obs[0], next_obs[1], next_obs[1:]
    healthy_state = jnp.all((state > -100.0) & (state < 100.0))
    healthy = healthy_state & (z > 0.7) & (angle > -0.2) & (angle < 0.2)
    return ~healthy


def walker2d_termination(
    obs: Float[Array, " 17"], action: Float[Array, " 6"], next_obs: Float[Array, " 17"]
) -> Bool[Array, ""]:
    """Walker2d-v5: unhealthy after the step (z outside (0.8, 2.0) or angle outside (-1, 1))."""
    z, angle = next_obs[0], next_obs[1]
    return ~((z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0))


def reacher_reward(
    obs: Float[Array, " 10"], action: Float[Array, " 2"], next_obs: Float[Array, " 10"]
) -> Float[Array, ""]:
    """Reacher-v5: ``-|fingertip - target| - |a|^2`` (unclipped ``a``) *after* the step.

    ``next_obs[8:10]`` is the fingertip-target vector in the plane; both bodies sit at the
    same height, so its norm is the env's 3-D distance.
    """
    return -jnp.linalg.norm(next_obs[8:10]) - jnp.sum(action**2)


def cartpole_swingup_reward(
    obs: Float[Array, " 5"], action: Float[Array, " 1"], next_obs: Float[Array, " 5"]
) -> Float[Array, ""]:
    """mbrlax/CartpoleSwingup-v0: the PETS tip reward on the state *after* the step."""
    a = jnp.clip(action, -1.0, 1.0)
    return swingup_reward(next_obs[0], next_obs[2], next_obs[3], a, POLE_LENGTH)


_HIDDEN_X = (
    "reward=None: the forward reward is the x-position change over the step, and x is "
    "excluded from the observation, so mbrlax learns the reward"
)

_PENDULUM = TaskFunctions(
    pendulum_reward, never_terminates, True, "exact; reward on the state before the step"
)


def point_mass_reward(
    obs: Float[Array, " 4"], action: Float[Array, " 2"], next_obs: Float[Array, " 4"]
) -> Float[Array, ""]:
    """mbrlax/PointMass-v0 (default weights): ``-(|p|^2 + 0.1 |v|^2 + 0.01 |clip(u)|^2)`` on the
    state before the step."""
    dim = obs.shape[0] // 2
    u = jnp.clip(action, -1.0, 1.0)
    return -(jnp.sum(obs[:dim] ** 2) + 0.1 * jnp.sum(obs[dim:] ** 2) + 0.01 * jnp.sum(u**2))


_TASKS: dict[str, TaskFunctions] = {
    "Pendulum-v1": _PENDULUM,
    "mbrlax/Pendulum-v0": _PENDULUM,
    "mbrlax/PendulumSwingup-v0": _PENDULUM,
    "MountainCarContinuous-v0": TaskFunctions(
        mountain_car_reward,
        mountain_car_termination,
        True,
        "exact for the default goal_velocity=0",
    ),
    "InvertedPendulum-v5": TaskFunctions(
        inverted_pendulum_reward, inverted_pendulum_termination, True, "exact"
    ),
    "HalfCheetah-v5": TaskFunctions(
        None, never_terminates, False, f"{_HIDDEN_X}; never terminates"
    ),
    "Hopper-v5": TaskFunctions(
        None,
        hopper_termination,
        False,
        f"{_HIDDEN_X}; termination exact (default healthy ranges) unless a velocity exceeds 100",
    ),
    "Walker2d-v5": TaskFunctions(
        None, walker2d_termination, False, f"{_HIDDEN_X}; termination exact (default ranges)"
    ),
    "Reacher-v5": TaskFunctions(
        reacher_reward, never_terminates, True, "exact; reward on the state after the step"
    ),
    "mbrlax/CartpoleSwingup-v0": TaskFunctions(
        cartpole_swingup_reward, never_terminates, True, "exact"
    ),
    "mbrlax/PointMass-v0": TaskFunctions(
        point_mass_reward, never_terminates, True, "exact for the default weights and force limit"
    ),
    "mbrlax/AcrobotSwingup-v0": TaskFunctions(
        acrobot_reward, never_terminates, True, "exact for the default torque limit"
    ),
    "mbrlax/BicycleTrack-v0": TaskFunctions(
        bicycle_reward, never_terminates, True, "exact for the default track and costs"
    ),
}


def get_task(env_id: str) -> TaskFunctions | None:
    """The task functions registered for ``env_id``, or ``None`` if mbrlax knows none.

    A ``module:EnvId`` id (Gymnasium's way to import the module that registers ``EnvId``)
    finds what was registered for either the whole id or ``EnvId``: the module registers its
    env under ``EnvId`` and can register the task under the same name.
    """
    if env_id in _TASKS:
        return _TASKS[env_id]
    return _TASKS.get(env_id.partition(":")[2]) if ":" in env_id else None


def list_tasks() -> list[str]:
    """Env ids with task functions, sorted."""
    return sorted(_TASKS)


def register_task(
    env_id: str,
    reward: RewardFn | None = None,
    termination: TerminationFn | None = None,
    note: str = "",
) -> TaskFunctions:
    """Give mbrlax the exact reward and/or termination of your env (replaces any existing entry).

    Both are pure JAX functions of one transition ``(obs [d], action [A], next_obs [d])``
    returning ``[]`` (reward) or ``[]`` bool (termination). Leave ``reward=None`` to have it
    learned; ``termination=None`` means the env only ends by its time limit.
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}.")
    for name, fn in (("reward", reward), ("termination", termination)):
        if fn is not None and not callable(fn):
            raise TypeError(
                f"{name} must be a function (obs, action, next_obs) -> array, got {type(fn)}."
            )
    task = TaskFunctions(
        reward=reward,
        termination=never_terminates if termination is None else termination,
        reward_exact=reward is not None,
        note=note or "registered by the user",
    )
    _TASKS[env_id] = task
    return task


def check_task(task: TaskFunctions, spec: EnvSpec) -> None:
    """Check that ``task``'s functions fit ``spec``: each takes one transition and returns
    ``[]``. Traced abstractly (nothing runs); raises :class:`EnvError` saying what is wrong."""
    obs = jax.ShapeDtypeStruct(spec.obs_shape, jnp.float32)
    if spec.is_continuous:
        action = jax.ShapeDtypeStruct(spec.action_shape, jnp.float32)
    else:
        action = jax.ShapeDtypeStruct((), jnp.int32)
    where = (
        f"one transition (obs {list(spec.obs_shape)}, action {list(action.shape)}, "
        f"next_obs {list(spec.obs_shape)})"
    )
    for name, fn in (("reward", task.reward), ("termination", task.termination)):
        if fn is None:
            continue
        try:
            out = jax.eval_shape(fn, obs, action, obs)
        except Exception as e:
            raise EnvError(
                f"the {name} function of {spec.env_id} fails on {where}: "
                f"{type(e).__name__}: {e}. It must be a pure JAX function of one transition."
            ) from None
        shape = getattr(out, "shape", None)
        if shape != ():
            raise EnvError(
                f"the {name} function of {spec.env_id} returns "
                f"{'shape ' + str(tuple(shape)) if shape is not None else type(out).__name__} "
                f"for {where}; it must return a scalar [] (mbrlax vmaps it over batches "
                "itself), e.g. end it with jnp.sum(...) or index the right element."
            )
