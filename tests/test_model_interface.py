"""One model interface: every model is a `DynamicsModel`, checks its inputs with the same shared
code (the same messages), and steps one example the same way."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.data.buffer import Transition
from mbrlax.envs.tasks import pendulum_reward
from mbrlax.models import (
    DynamicsModel,
    EnsembleConfig,
    GaussianProcessModel,
    GPConfig,
    PendulumPhysics,
    ProbabilisticEnsemble,
    SemiParametricModel,
)


def never(obs, action, next_obs):
    return jnp.array(False)


SMALL = EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(8,))


def models() -> dict[str, DynamicsModel]:
    no_heads = EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(8,))
    return {
        "ensemble": ProbabilisticEnsemble(SMALL, 3, 1),
        "gp": GaussianProcessModel(GPConfig(), 3, 1),
        "physics": PendulumPhysics(),
        "semiparametric": SemiParametricModel(
            PendulumPhysics(), ProbabilisticEnsemble(no_heads, 3, 1)
        ),
    }


@pytest.mark.parametrize("name", list(models()))
def test_every_model_is_a_dynamics_model_with_the_shared_checks(name):
    model = models()[name]
    assert isinstance(model, DynamicsModel) and (model.obs_dim, model.action_dim) == (3, 1)
    params = model.init(jax.random.key(0))
    obs, action = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.5])
    with pytest.raises(ValueError, match=r"expected one example, obs \[3\] and action \[1\], got "
                       r"\[2, 3\] and \[1\]; vmap over batches"):  # fmt: skip
        model.expected_step(params, jnp.zeros((2, 3)), action, pendulum_reward, never)
    next_obs, reward, done = model.expected_step(params, obs, action, pendulum_reward, never)
    assert next_obs.shape == (3,) and reward.shape == () and done.dtype == jnp.bool_
    np.testing.assert_allclose(reward, pendulum_reward(obs, action, next_obs), rtol=1e-5)
    wrong = Transition(
        jnp.zeros((4, 3)), jnp.zeros((4, 2)), jnp.zeros(4), jnp.zeros((4, 3)), jnp.zeros(4, bool)
    )
    with pytest.raises(ValueError, match=r"fit: data.action has shape \[4, 2\], expected \[4, 1\]"):
        model.fit(params, wrong, 4, jax.random.key(1))
    with pytest.raises(TypeError, match="fit expects a Transition of arrays, got dict"):
        model.fit(params, {"obs": wrong.obs}, 4, jax.random.key(1))
