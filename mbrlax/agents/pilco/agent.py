"""PILCO (Deisenroth & Rasmussen, 2011): policy search through a Gaussian-process model.

The loop of the paper: act at random for one episode; then, after every episode, fit a GP to
all transitions (:class:`mbrlax.models.gp.GaussianProcessModel`, one GP per state dimension
on state deltas) and improve the policy by gradients of its expected return under the GP over
the horizon ``H``; run the improved policy for the next episode, and repeat.

    J(psi) = E[ sum_{t < H} r(o_t, pi_psi(o_t), o_{t+1}) ],   o_0 ~ the episodes' starts.

How uncertainty is propagated: by **particles**, not the paper's moment matching. Each of
``P`` particles starts at an observed episode start and moves by a sample of the GP's
predictive distribution at every step, ``o_{t+1} = mu(o_t, u_t) + sigma(o_t, u_t) eps_t``;
``J`` is the particles' mean return and its gradient flows through ``mu``, ``sigma`` and the
policy by the reparameterisation trick. Why: moment matching is closed-form only for the
squared-exponential kernel with Gaussian inputs, an RBF or linear policy, a sine squashing
and a saturating cost on Gaussian states; particles accept any reward function (the env's
own, from ``mbrlax.envs.tasks``), termination, observation (angles as cos/sin) and policy, keep
multi-modal state distributions (a pendulum that may fall either way), and cost ``P``
predictions per step, which with a sparse GP is cheap. The price is a noisy objective;
what makes it work (``benchmarks/pilco.py --ablate`` measures each, 3 seeds):

- the policy with the highest ``J`` seen is kept: through a 100-step chaotic rollout one
  step of Adam can knock a balancing policy off the top (without it, 1 of 30 final
  swing-ups held);
- PILCO's saturating cost: ``cost_width = w > 0`` optimises ``exp(r / (2 w^2)) - 1`` (in
  ``[-1, 0]`` for ``r <= 0``) in place of the reward ``r``; for the pendulum's
  ``r = -(theta^2 + ...)`` that is PILCO's ``1 - exp(-d^2 / (2 w^2))`` near the top. It
  cares only about being near the target, not how far away a failed swing ends; with the
  raw reward (``cost_width = 0``) one seed of three never left the bottom and another's
  final policy held 6 of 10 swing-ups;
- common random numbers (``fixed_noise``): the particles' starts and noise are drawn once
  per improvement, so ``J`` is one deterministic function of the policy (a sample-average
  approximation, as PILCO's own moment-matched ``J`` is deterministic) that Adam descends,
  gradient norm clipped. Fresh particles at every step did as well on the swing-up.

Metrics (``agent/...`` in a run's ``metrics.csv``): ``model_train_loss``, the GP's negative
log marginal likelihood (or its sparse bound) per point, and ``expected_return``, the kept
policy's return through the model.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.agents.pilco.policies import Policy, empty_policy, init_policy
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs.spec import EnvSpec
from mbrlax.envs.tasks import TaskFunctions, check_task
from mbrlax.models.gp import GaussianProcessModel, GPConfig, GPParams


@dataclasses.dataclass(frozen=True)
class PILCOConfig:
    """PILCO hyper-parameters.

    Attributes:
        model: the GP dynamics model (exact with ``num_inducing = 0``, or sparse). Sparse
            with 100 inducing inputs by default: each imagined step then costs ``O(M^2)``
            whatever the number of rows ``C`` (``O(C^2)`` for the exact GP).
        policy: ``"rbf"`` (PILCO's nonlinear controller, needed for swing-ups) or
            ``"linear"``.
        num_basis: basis functions of the RBF policy.
        horizon: steps of each imagined rollout; 0: the env's episode length.
        num_particles: particles ``P`` per gradient step.
        policy_steps: Adam steps of each policy improvement.
        learning_rate: Adam step size of the policy.
        max_grad_norm: gradients are clipped to this global norm (long rollouts through a
            model can give rare huge gradients).
        cost_width: ``w > 0`` optimises the saturating ``exp(r / (2 w^2)) - 1`` in place of
            the reward ``r`` (PILCO's cost, for rewards ``<= 0``); 0 optimises ``r`` itself.
        fixed_noise: draw the particles' starts and noise once per improvement (common
            random numbers), so that ``J`` is one deterministic function of the policy that
            Adam descends; off: fresh particles at every step.
        keep_best: return the policy of the highest ``J`` seen during the improvement, not
            the last one (a step through a chaotic rollout can undo a swing-up).
    """

    model: GPConfig = GPConfig(num_inducing=100)
    policy: Literal["rbf", "linear"] = "rbf"
    num_basis: int = 50
    horizon: int = 0
    num_particles: int = 32
    policy_steps: int = 300
    learning_rate: float = 0.05
    max_grad_norm: float = 10.0
    cost_width: float = 1.0
    fixed_noise: bool = True
    keep_best: bool = True

    def __post_init__(self):
        if self.policy not in ("rbf", "linear"):
            raise ValueError(f"policy must be 'rbf' or 'linear', got {self.policy!r}.")
        for name in ("num_basis", "num_particles", "policy_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.horizon < 0:
            raise ValueError(f"horizon must be >= 0 (0: the episode length), got {self.horizon}.")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0 or self.cost_width < 0:
            raise ValueError("learning_rate and max_grad_norm must be > 0 and cost_width >= 0.")


class PILCOState(NamedTuple):
    """Agent state.

    Attributes:
        model_params: the GP's parameters.
        policy: the policy (a pytree of arrays).
        fitted: ``[]`` bool, False until the first update initialised the policy from data.
    """

    model_params: GPParams
    policy: Policy
    fitted: Bool[Array, ""]


@dataclasses.dataclass(frozen=True)
class PILCO:
    """The PILCO agent for one env (``spec``) with its known reward (``task``).

    Static and hashable: ``act`` and ``update`` compile once.

    Attributes:
        config: hyper-parameters.
        spec: the env acted in.
        task: its reward and termination (``mbrlax.envs.get_task``); the reward is needed.
        capacity: rows of the replay buffer ``update`` is given
            (``mbrlax.training.loop.buffer_capacity``): the exact GP keeps one posterior entry per
            row, and the agent's state has the same shapes before and after the first fit.
    """

    config: PILCOConfig
    spec: EnvSpec
    task: TaskFunctions | None
    capacity: int

    def __post_init__(self):
        if not self.spec.is_continuous or self.spec.is_tabular:
            raise ValueError(
                f"PILCO learns a GP model of vector observations and a policy of continuous "
                f"actions, but {self.spec.env_id} has "
                f"{'discrete observations' if self.spec.is_tabular else 'Discrete actions'}; "
                "use an env with Box observations and Box actions."
            )
        if self.task is None or self.task.reward is None:
            raise ValueError(
                f"PILCO optimises the expected return under its model, so it needs the reward "
                f"of {self.spec.env_id} as a function of (obs, action, next_obs), and mbrlax "
                "has none for it (mbrlax.envs.tasks). Register one with "
                "mbrlax.envs.register_task, or use PETS, which can learn the reward."
            )
        check_task(self.task, self.spec)
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1 buffer rows, got {self.capacity}.")
        if not self.config.horizon and not self.spec.max_episode_steps:
            raise ValueError(
                f"{self.spec.env_id} has no time limit, so PILCO cannot take its horizon from "
                "the episode length; set --agent.horizon."
            )

    @functools.cached_property
    def model(self) -> GaussianProcessModel:
        return GaussianProcessModel(self.config.model, self.spec.obs_dim, self.spec.action_dim)

    @property
    def horizon(self) -> int:
        """Steps of each imagined rollout."""
        return self.config.horizon or int(self.spec.max_episode_steps)

    def _bounds(self) -> tuple[Float[Array, " A"], Float[Array, " A"]]:
        low, high = self.spec.action_bounds()
        return jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)

    def init(self, key: PRNGKeyArray) -> PILCOState:
        c = self.config
        policy = empty_policy(c.policy, self.spec.obs_dim, *self._bounds(), c.num_basis)
        return PILCOState(self.model.init(key, self.capacity), policy, jnp.array(False))

    def begin_episode(self, state: PILCOState) -> PILCOState:
        return state

    @functools.partial(jax.jit, static_argnums=0)
    def act(
        self, state: PILCOState, obs: Float[Array, " d"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], PILCOState, dict[str, Array]]:
        """The policy's (deterministic) action; ``(action [A], state, {})``."""
        del key  # PILCO's policy is deterministic; the model's uncertainty explores
        return state.policy(jnp.asarray(obs, jnp.float32)), state, {}

    def update(
        self, state: PILCOState, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[PILCOState, dict[str, Array]]:
        """Fit the GP to all of ``buffer``, then improve the policy under it."""
        if buffer.capacity != self.capacity:
            raise ValueError(
                f"PILCO was made for a buffer of {self.capacity} rows but was given one of "
                f"{buffer.capacity}; make the agent with capacity=buffer_capacity(runner "
                "config, spec) (mbrlax.training.loop)."
            )
        return self._update(state, buffer.data, buffer.size, key)

    @functools.partial(jax.jit, static_argnums=0)
    def _update(self, state: PILCOState, data: Transition, size, key: PRNGKeyArray):
        c = self.config
        k_fit, k_init, k_opt = jax.random.split(key, 3)
        model_params, fit_metrics = self.model.fit(state.model_params, data, size, k_fit)
        filled = (jnp.arange(data.obs.shape[0]) < size).astype(jnp.float32)
        fresh = init_policy(c.policy, k_init, data.obs, filled, *self._bounds(), c.num_basis)
        policy = jax.tree.map(
            lambda old, new: jnp.where(state.fitted, old, new), state.policy, fresh
        )
        policy, returns = self.improve(policy, model_params, data, size, k_opt)
        kept = jnp.max(returns) if c.keep_best else returns[-1]
        metrics = {
            "model_train_loss": fit_metrics["model_train_loss"],
            "expected_return": kept,
        }
        return PILCOState(model_params, policy, jnp.array(True)), metrics

    def improve(
        self,
        policy: Policy,
        model_params: GPParams,
        data: Transition,
        size,
        key: PRNGKeyArray,
    ) -> tuple[Policy, Float[Array, " K"]]:
        """``policy_steps`` Adam steps on ``-J``. Returns the policy with the highest ``J``
        seen (the last one without ``keep_best``) and ``J`` of the policy at each step
        (``[K]``, estimated on the fixed particles, or on that step's with ``fixed_noise``
        off)."""
        c = self.config
        opt = optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(c.learning_rate))
        start_p = episode_starts(data, size)

        def particles(k: PRNGKeyArray) -> tuple[Float[Array, "P d"], Float[Array, "H P d"]]:
            k_start, k_noise = jax.random.split(k)
            rows = jax.random.choice(k_start, start_p.shape[0], (c.num_particles,), p=start_p)
            shape = (self.horizon, c.num_particles, self.spec.obs_dim)
            return data.obs[rows], jax.random.normal(k_noise, shape, data.obs.dtype)

        k_fixed, k_steps = jax.random.split(key)
        fixed = particles(k_fixed) if c.fixed_noise else None

        def loss(p: Policy, k: PRNGKeyArray) -> Float[Array, ""]:
            starts, noise = fixed if c.fixed_noise else particles(k)
            return -jnp.mean(self.imagined_returns(p, model_params, starts, noise))

        def step(carry, k):
            p, opt_state, best, best_j = carry
            value, grads = jax.value_and_grad(loss)(p, k)
            better = -value > best_j
            best = jax.tree.map(lambda new, old: jnp.where(better, new, old), p, best)
            updates, opt_state = opt.update(grads, opt_state, p)
            carry = (optax.apply_updates(p, updates), opt_state, best, jnp.maximum(best_j, -value))
            return carry, -value

        init = (policy, opt.init(policy), policy, jnp.array(-jnp.inf, data.obs.dtype))
        (last, _, best, _), returns = jax.lax.scan(
            step, init, jax.random.split(k_steps, c.policy_steps)
        )
        return (best if c.keep_best else last), returns

    def imagined_returns(
        self,
        policy: Policy,
        model_params: GPParams,
        starts: Float[Array, "P d"],
        noise: Float[Array, "H P d"],
    ) -> Float[Array, " P"]:
        """Each particle's (shaped) return over the horizon through the GP, from ``starts``,
        moved by the standard normal ``noise``; a terminated particle earns nothing further."""
        reward_fn, done_fn = self.task.reward, self.task.termination
        w = self.config.cost_width

        def body(carry, eps):
            obs, alive, ret = carry
            action = jax.vmap(policy)(obs)
            mean, var = jax.vmap(self.model.predict, (None, 0, 0))(model_params, obs, action)
            nxt = mean + jnp.sqrt(var) * eps
            r = jax.vmap(reward_fn)(obs, action, nxt)
            if w > 0:
                r = jnp.exp(r / (2 * w**2)) - 1.0
            done = jax.vmap(done_fn)(obs, action, nxt)
            ret = ret + jnp.where(alive, r, 0.0)
            obs = jnp.where(alive[:, None], nxt, obs)
            return (obs, alive & ~done, ret), None

        p = starts.shape[0]
        init = (starts, jnp.ones(p, bool), jnp.zeros(p))
        (_, _, ret), _ = jax.lax.scan(body, init, noise)
        return ret


def episode_starts(data: Transition, size) -> Float[Array, " C"]:
    """Probabilities ``[C]`` over the buffer's rows, uniform over the first observations of
    its episodes: row 0, and every row whose ``obs`` is not the previous row's ``next_obs``
    (a reset after a termination or a time limit); 0 on empty rows."""
    rows = jnp.arange(data.obs.shape[0])
    continues = jnp.all(data.obs[1:] == data.next_obs[:-1], axis=-1)
    start = jnp.concatenate([jnp.array([True]), ~continues]) & (rows < size)
    start = start.astype(jnp.float32)
    return start / jnp.maximum(jnp.sum(start), 1.0)
