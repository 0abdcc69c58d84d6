"""Environments: Gymnasium adapter, JAX-native envs, and known task functions."""

from mbrlax.envs.base import EnvError, EnvStep, JaxEnv, as_step_fn
from mbrlax.envs.cartpole import CartPole, CartPoleState
from mbrlax.envs.cartpole_swingup import CartpoleState, CartpoleSwingup
from mbrlax.envs.catch import Catch, CatchState
from mbrlax.envs.check import check_env
from mbrlax.envs.dmc import DMCEnv, list_dmc_tasks
from mbrlax.envs.gym_adapter import GymEnv, make_env
from mbrlax.envs.jax_gym import JaxGymEnv
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.envs.registry import JAX_ENVS, list_jax_envs, make_jax_env
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions, check_task, get_task, list_tasks, register_task

__all__ = [
    "JAX_ENVS",
    "CartPole",
    "CartPoleState",
    "CartpoleState",
    "Catch",
    "CatchState",
    "DMCEnv",
    "CartpoleSwingup",
    "EnvError",
    "EnvSpec",
    "EnvStep",
    "GymEnv",
    "JaxEnv",
    "JaxGymEnv",
    "Pendulum",
    "PendulumState",
    "TaskFunctions",
    "as_step_fn",
    "check_env",
    "check_task",
    "get_task",
    "list_dmc_tasks",
    "list_jax_envs",
    "list_tasks",
    "make_env",
    "make_jax_env",
    "register_task",
]
