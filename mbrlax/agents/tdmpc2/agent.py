"""TD-MPC2 (Hansen, Su & Wang, ICLR 2024): MPPI in a learned latent space with a learned value.

A value-equivalent latent model (:class:`mbrlax.models.tdmpc.LatentModel`: SimNorm encoder,
latent dynamics, reward and termination heads), an ensemble of Q-functions (symlog two-hot,
dropout in their first layer) with a slow target copy, and a policy prior (a tanh Gaussian).

**Learning**, every gradient step on ``batch_size`` replayed windows of ``horizon`` rows: the
latent is rolled from the first row's observation through the dynamics with the replayed
actions; at each step ``t`` (weighted ``rho ** t``) the rolled latent should match the encoding
of the real next observation (consistency, mean squared error), predict the reward and whether
the step ended the episode, and every Q should predict the TD target ``r_t + gamma (1 -
terminated_t) min(Q'_i, Q'_j)(z'_{t+1}, pi(z'_{t+1}))`` (two random members of the target
ensemble at the encoded next observation). **Each row carries its own terminal flag**, and a
window that runs into a new episode counts only its rows before the boundary (TD-MPC2's own
target used one flag per window; its termination support was marked experimental). The policy
prior then maximises the mean of two random Qs (scaled by the running 5-95 percentile range of
the values, as DreamerV3's returns) plus a small entropy bonus, on the rolled latents.

**Acting**: MPPI (:class:`mbrlax.planners.MPPI` with TD-MPC2's elites, refitted spread and
policy proposals) over ``horizon`` steps of the model's ``step``, the last state valued by the
Q-ensemble at the policy's mean action; a terminated imagined step earns nothing further.
Training adds the plan's final spread as exploration noise. Actions are ``[-1, 1]`` inside,
the env's bounds outside.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from mbrlax.agents.base import env_to_unit, unit_to_env
from mbrlax.agents.returns import ReturnScale, return_scale, return_scale_init
from mbrlax.data.buffer import ReplayBuffer
from mbrlax.data.sequences import Sequences, sample_sequences
from mbrlax.envs.spec import EnvSpec
from mbrlax.models.distributions import twohot_loss, twohot_mean
from mbrlax.models.layers import Dense, apply_mlp
from mbrlax.models.tdmpc import LatentModel, LatentNets, head
from mbrlax.planners import MPPI, Planner
from mbrlax.planners.base import GaussianState

MODEL_SIZES: dict[int, dict[str, int]] = {
    1: {"enc_dim": 256, "mlp_dim": 384, "latent_dim": 128, "enc_layers": 2, "num_q": 2},
    5: {"enc_dim": 256, "mlp_dim": 512, "latent_dim": 512, "enc_layers": 2, "num_q": 5},
    19: {"enc_dim": 1024, "mlp_dim": 1024, "latent_dim": 768, "enc_layers": 3, "num_q": 5},
    48: {"enc_dim": 1792, "mlp_dim": 1792, "latent_dim": 768, "enc_layers": 4, "num_q": 5},
    317: {"enc_dim": 4096, "mlp_dim": 4096, "latent_dim": 1376, "enc_layers": 5, "num_q": 8},
}
"""TD-MPC2's model sizes (millions of parameters, for its multi-task inputs) and their widths,
from its released code (``common/__init__.py``); 5 is its single-task default."""

TDMPC2_MPPI = MPPI(
    horizon=3, population=512, iterations=6, elites=64, proposals=24, noise_std=2.0,
    min_std=0.05, temperature=2.0, std_update=True,
)  # fmt: skip
"""TD-MPC2's planner: 6 iterations of 512 samples (24 from the policy prior), 64 elites, the
spread refitted from 2 down to 0.05, temperature 0.5 on the scores (``1 / 0.5`` here)."""


@dataclasses.dataclass(frozen=True)
class TDMPC2Config:
    """TD-MPC2's hyper-parameters (its released defaults unless said).

    Attributes:
        size: a model size of :data:`MODEL_SIZES` (1, 5, 19, 48 or 317); it sets the widths
            left unset below.
        latent_dim: the latent's size (a multiple of ``simnorm_dim``).
        mlp_dim: width of the dynamics, reward, termination, Q and policy networks.
        enc_dim: width of the encoder.
        enc_layers: the encoder's layers.
        num_q: Q-functions in the ensemble (two random ones form each target).
        simnorm_dim: SimNorm's group size (8).
        num_bins: two-hot bins of rewards and values (101 over symlog ``[vmin, vmax]``).
        vmin: the lowest bin in symlog space (-10).
        vmax: the highest (10).
        dropout: dropout in the Q-functions' first layer (0.01).
        horizon: the planning horizon and the length of the training windows (3).
        discount: ``gamma``; ``None``: TD-MPC2's rule from the episode length ``T``,
            ``clip((T / 5 - 1) / (T / 5), 0.95, 0.995)`` (0.99 without a time limit).
        planner: the MPPI settings (its horizon and discount are set from the above).
        mpc: plan with MPPI; ``False`` acts with the policy prior alone (faster, weaker).
        batch_size: windows per gradient step (256).
        rho: the weight of step ``t`` of a window is ``rho ** t`` (0.5).
        learning_rate: Adam's step size (3e-4); the encoder's is ``enc_lr_scale`` times it.
        enc_lr_scale: 0.3.
        grad_clip: the global gradient norm is clipped to this (20).
        tau: the target Qs move this fraction towards the Qs every step (0.01).
        consistency_coef: weight of the latent consistency loss (20).
        reward_coef: of the reward loss (0.1).
        value_coef: of the value loss (0.1).
        termination_coef: of the termination loss (1).
        entropy_coef: the policy's entropy bonus (1e-4).
        log_std_min: the policy's smallest log std (-10).
        log_std_max: its largest (2).
        train_steps: gradient steps at every update (with ``--refit-every 1``: one per env
            step, TD-MPC2's ratio); the first update also catches up one step per row collected
            in the warm-up, as TD-MPC2 pre-trains on its seed steps.
    """

    size: int = 5
    latent_dim: int | None = None
    mlp_dim: int | None = None
    enc_dim: int | None = None
    enc_layers: int | None = None
    num_q: int | None = None
    simnorm_dim: int = 8
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    dropout: float = 0.01
    horizon: int = 3
    discount: float | None = None
    planner: MPPI = TDMPC2_MPPI
    mpc: bool = True
    batch_size: int = 256
    rho: float = 0.5
    learning_rate: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip: float = 20.0
    tau: float = 0.01
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    termination_coef: float = 1.0
    entropy_coef: float = 1e-4
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    train_steps: int = 1

    def __post_init__(self) -> None:
        if self.size not in MODEL_SIZES:
            raise ValueError(
                f"TDMPC2Config.size must be one of {sorted(MODEL_SIZES)} (millions of "
                f"parameters in TD-MPC2's table), got {self.size!r}; set latent_dim, mlp_dim, "
                "enc_dim, enc_layers and num_q for another size."
            )
        dims = self.dims
        counts = {**dims._asdict(), "horizon": self.horizon, "batch_size": self.batch_size,
                  "train_steps": self.train_steps}  # fmt: skip
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"TDMPC2Config.{name} must be >= 1, got {value}.")
        if dims.num_q < 2:
            raise ValueError(
                f"TDMPC2Config.num_q must be >= 2 (a target takes two), got {dims.num_q}."
            )
        if self.discount is not None and not 0.0 < self.discount <= 1.0:
            raise ValueError(
                f"TDMPC2Config.discount must be in (0, 1] or None, got {self.discount}."
            )  # noqa: E501
        if not 0.0 <= self.dropout < 1.0 or not 0.0 < self.rho <= 1.0:
            raise ValueError("TDMPC2Config: need 0 <= dropout < 1 and 0 < rho <= 1.")

    @property
    def dims(self) -> ModelDims:
        """The widths built: those set here, the others from ``size`` (the fields are never
        filled in, so that ``dataclasses.replace(config, size=1)`` and ``--agent.size 1``
        change them all)."""
        table = MODEL_SIZES[self.size]
        return ModelDims(**{
            name: table[name] if getattr(self, name) is None else getattr(self, name)
            for name in ModelDims._fields
        })  # fmt: skip


class ModelDims(NamedTuple):
    """The widths a :class:`TDMPC2Config` builds: its ``size``'s row of :data:`MODEL_SIZES`,
    with the fields it sets itself."""

    latent_dim: int
    mlp_dim: int
    enc_dim: int
    enc_layers: int
    num_q: int


def tdmpc2_discount(max_episode_steps: int | None) -> float:
    """TD-MPC2's discount for episodes of ``T`` steps: ``clip((T/5 - 1) / (T/5), 0.95,
    0.995)``; 0.99 when ``T`` is unknown."""
    if not max_episode_steps:
        return 0.99
    frac = max_episode_steps / 5
    return float(min(max((frac - 1) / frac, 0.95), 0.995))


class TDMPC2State(NamedTuple):
    """Agent state: the model, the policy prior, the Qs and their target copy, the two
    optimisers, the running value scale, the planner's warm start and a count of updates."""

    model: LatentNets
    pi: tuple[Dense, ...]
    qs: tuple[Dense, ...]  # every leaf with a leading axis [num_q]
    target_qs: tuple[Dense, ...]
    opt: Any
    pi_opt: Any
    scale: ReturnScale
    planner_state: GaussianState
    updates: Array


class _Learned(NamedTuple):
    """What the model's optimiser moves."""

    model: LatentNets
    qs: tuple[Dense, ...]


@dataclasses.dataclass(frozen=True)
class TDMPC2:
    """TD-MPC2 for one env (``spec``); static and hashable."""

    config: TDMPC2Config
    spec: EnvSpec

    def __post_init__(self) -> None:
        if not self.spec.is_continuous or self.spec.is_tabular or self.spec.is_image:
            raise ValueError(
                f"TD-MPC2 here learns Box actions from vector observations, and "
                f"{self.spec.env_id} has Discrete actions, discrete observations or frames; "
                "use `mbrlax train muzero` (discrete) or `mbrlax train dreamer` (frames)."
            )

    # ---------------------------------------------------------------- pieces
    @functools.cached_property
    def model(self) -> LatentModel:
        c, d = self.config, self.config.dims
        return LatentModel(
            self.spec.obs_dim, self.spec.action_dim, d.latent_dim, d.mlp_dim, d.enc_dim,
            d.enc_layers, c.simnorm_dim, c.num_bins, c.vmin, c.vmax,
        )  # fmt: skip

    @functools.cached_property
    def discount(self) -> float:
        c = self.config
        return tdmpc2_discount(self.spec.max_episode_steps) if c.discount is None else c.discount

    @property
    def bins(self) -> Array:  # not cached: it is made inside traces
        return self.model.bins

    def _optimizers(self) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
        c = self.config
        return (
            optax.chain(optax.clip_by_global_norm(c.grad_clip), optax.adam(c.learning_rate)),
            optax.chain(
                optax.clip_by_global_norm(c.grad_clip), optax.adam(c.learning_rate, eps=1e-5)
            ),
        )

    def planner(self, state: TDMPC2State) -> Planner:
        """MPPI over the latent ``step`` with the Q-ensemble as terminal value and the policy
        prior's rollouts as proposals (built inside the jitted ``act``: it closes over the
        current networks)."""
        c = self.config
        cfg = dataclasses.replace(c.planner, horizon=c.horizon, discount=self.discount)
        ones = np.ones(self.spec.action_dim, np.float32)  # bounds are static
        return cfg.build(
            -ones, ones,
            terminal_value=lambda z: self._value(state.pi, state.qs, z),
            proposal=lambda z, key: self._policy_rollout(state.model, state.pi, z, key),
        )  # fmt: skip

    def init(self, key: PRNGKeyArray) -> TDMPC2State:
        c, d = self.config, self.config.dims
        k_model, k_pi, k_q = jax.random.split(key, 3)
        model = self.model.init(k_model)
        z, a = d.latent_dim, self.spec.action_dim
        pi = head(k_pi, z, d.mlp_dim, 2 * a)
        qs = jax.vmap(lambda k: head(k, z + a, d.mlp_dim, c.num_bins, zero=True))(
            jax.random.split(k_q, d.num_q)
        )
        opt, pi_opt = self._optimizers()
        planner_state = self._planner_start()
        return TDMPC2State(
            model, pi, qs, qs, opt.init(_Learned(model, qs)), pi_opt.init(pi),
            return_scale_init(), planner_state, jnp.zeros((), jnp.int32),
        )  # fmt: skip

    def _planner_start(self) -> GaussianState:
        """The planner's cold start: the mid-point plan (zeros) and the widest spread."""
        shape = (self.config.horizon, self.spec.action_dim)
        return GaussianState(
            jnp.zeros(shape, jnp.float32),
            jnp.full(shape, self.config.planner.noise_std, jnp.float32),
        )

    def begin_episode(self, state: TDMPC2State) -> TDMPC2State:
        return state._replace(planner_state=self._planner_start())

    # ---------------------------------------------------------------- policy and values
    def _policy(
        self, pi, z: Float[Array, " Z"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], Float[Array, " A"], Float[Array, ""]]:
        """``(sample, mean, entropy)`` of the tanh-Gaussian policy prior at ``z``: the action
        sampled with reparameterisation, the squashed mean, and TD-MPC2's entropy term (the
        Gaussian's, before squashing, summed over the action's entries)."""
        c = self.config
        mean, raw = jnp.split(apply_mlp(pi, z), 2)
        log_std = c.log_std_min + 0.5 * (c.log_std_max - c.log_std_min) * (jnp.tanh(raw) + 1.0)
        eps = jax.random.normal(key, mean.shape)
        log_prob = jnp.sum(-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi))
        return jnp.tanh(mean + eps * jnp.exp(log_std)), jnp.tanh(mean), -log_prob

    def _q_all(self, qs, z, action, dropout: float = 0.0, key=None) -> Float[Array, " Q K"]:
        """``[num_q, K]`` the logits of every Q at ``(z, action)``."""
        x = jnp.concatenate([z, action])
        if key is None:
            return jax.vmap(lambda q: apply_mlp(q, x))(qs)
        keys = jax.random.split(key, self.config.dims.num_q)
        return jax.vmap(lambda q, k: apply_mlp(q, x, dropout, k))(qs, keys)

    def _q_pair(self, qs, z, action, key) -> Float[Array, " 2"]:
        """``[2]`` the values of two members drawn without replacement (all are evaluated:
        gathering two members' weights per example would copy them for every example)."""
        pick = jax.random.choice(key, self.config.dims.num_q, (2,), replace=False)
        return twohot_mean(self._q_all(qs, z, action), self.bins)[pick]

    def _value(self, pi, qs, z: Float[Array, " Z"]) -> Float[Array, ""]:
        """``[]`` the planner's terminal value: the Q-ensemble's mean at the policy's mean
        action (TD-MPC2 averages two random members at a sampled action; a planner's terminal
        value takes no key)."""
        _, mean, _ = self._policy(pi, z, jax.random.key(0))  # the key only draws the sample
        return jnp.mean(twohot_mean(self._q_all(qs, z, mean), self.bins))

    def _policy_rollout(self, nets, pi, z, key) -> Float[Array, "H A"]:
        """``[H, A]`` the policy prior's actions along its own rollout through the dynamics
        (TD-MPC2's proposals)."""

        def one(z, k):
            action, _, _ = self._policy(pi, z, k)
            return self.model.next(nets, z, action), action

        _, actions = jax.lax.scan(one, z, jax.random.split(key, self.config.horizon))
        return actions

    # ---------------------------------------------------------------- acting
    def _act(self, state: TDMPC2State, obs, key, explore: bool):
        k_plan, k_noise = jax.random.split(key)
        z = self.model.encode(state.model, jnp.asarray(obs, jnp.float32))
        info: dict[str, Array] = {}
        if self.config.mpc:
            step = functools.partial(self.model.step, state.model)
            unit, pstate, info = self.planner(state).plan(state.planner_state, step, z, k_plan)
            if explore:
                unit = unit + pstate.std[0] * jax.random.normal(k_noise, unit.shape)
            state = state._replace(planner_state=pstate)
        else:
            sample, mean, _ = self._policy(state.pi, z, k_plan)
            unit = sample if explore else mean
        return unit_to_env(self.spec, unit), state, info

    @functools.partial(jax.jit, static_argnums=0)
    def act(self, state: TDMPC2State, obs: Float[Array, " d"], key: PRNGKeyArray):
        """Plan from ``obs`` (MPPI in the latent space), plus exploration noise."""
        return self._act(state, obs, key, explore=True)

    @functools.partial(jax.jit, static_argnums=0)
    def act_eval(self, state: TDMPC2State, obs: Float[Array, " d"], key: PRNGKeyArray):
        """Plan from ``obs``; the plan's first action."""
        return self._act(state, obs, key, explore=False)

    # ---------------------------------------------------------------- learning
    def td_targets(
        self, target_qs, pi, next_z: Float[Array, " Z"], reward, terminated, key
    ) -> Float[Array, ""]:
        """``[]`` the TD target of one row: ``r + gamma (1 - terminated) min(Q'_i, Q'_j)(z',
        a')`` with ``a' ~ pi(z')`` and two random members of the target ensemble."""
        k_pi, k_q = jax.random.split(key)
        action, _, _ = self._policy(pi, next_z, k_pi)
        q = jnp.min(self._q_pair(target_qs, next_z, action, k_q))
        return reward + self.discount * (1.0 - terminated.astype(q.dtype)) * q

    def model_losses(self, learned: _Learned, state: TDMPC2State, seqs: Sequences, key):
        """The model's and the Qs' loss on windows ``[B, H]``; also the rolled latents ``[B,
        H + 1, Z]`` and which of them are in the window's first episode."""
        c = self.config
        data = seqs.data
        b, h = seqs.is_first.shape
        k_td, k_drop = jax.random.split(key)
        actions = env_to_unit(self.spec, data.action)
        encode = jax.vmap(jax.vmap(lambda o: self.model.encode(learned.model, o)))
        next_z = jax.lax.stop_gradient(encode(data.next_obs.astype(jnp.float32)))
        td = jax.vmap(jax.vmap(lambda z, r, d, k: self.td_targets(state.target_qs, state.pi, z, r, d, k)))(  # noqa: E501
            next_z, data.reward, data.terminated, jax.random.split(k_td, (b, h))
        )  # fmt: skip
        td = jax.lax.stop_gradient(td)
        # Row t counts while no later row of the window has started a new episode.
        valid = jnp.cumprod(~seqs.is_first.at[:, 0].set(False), axis=1).astype(jnp.float32)
        weight = valid * c.rho ** jnp.arange(h)  # [B, H]

        def roll(obs0, acts):
            z0 = self.model.encode(learned.model, obs0)

            def one(z, a):
                nz = self.model.next(learned.model, z, a)
                return nz, nz

            _, zs = jax.lax.scan(one, z0, acts)
            return jnp.concatenate([z0[None], zs])

        zs = jax.vmap(roll)(data.obs[:, 0].astype(jnp.float32), actions)  # [B, H+1, Z]
        consistency = jnp.mean((zs[:, 1:] - next_z) ** 2, axis=-1)
        reward_logits = jax.vmap(jax.vmap(lambda z, a: self.model.reward_logits(learned.model, z, a)))(  # noqa: E501
            zs[:, :-1], actions
        )  # fmt: skip
        reward_loss = twohot_loss(reward_logits, data.reward, self.bins)
        term_logits = jax.vmap(jax.vmap(lambda z: self.model.termination_logit(learned.model, z)))(  # noqa: E501
            zs[:, 1:]
        )  # fmt: skip
        term_loss = optax.sigmoid_binary_cross_entropy(
            term_logits, data.terminated.astype(jnp.float32)
        )
        q_all = jax.vmap(jax.vmap(lambda z, a, k: self._q_all(learned.qs, z, a, c.dropout, k)))
        q_logits = q_all(zs[:, :-1], actions, jax.random.split(k_drop, (b, h)))  # [B, H, Q, K]
        value_loss = jnp.mean(twohot_loss(q_logits, td[..., None], self.bins), axis=-1)

        def total(per_row):  # sum over the window of rho^t-weighted batch means, / H
            return jnp.sum(jnp.mean(weight * per_row, axis=0)) / h

        parts = {
            "consistency_loss": total(consistency),
            "reward_loss": total(reward_loss),
            "value_loss": total(value_loss),
            "termination_loss": jnp.sum(jnp.mean(valid * term_loss, axis=0)) / h,
        }
        loss = (
            c.consistency_coef * parts["consistency_loss"]
            + c.reward_coef * parts["reward_loss"]
            + c.value_coef * parts["value_loss"]
            + c.termination_coef * parts["termination_loss"]
        )
        valid_z = jnp.concatenate([jnp.ones((b, 1)), valid], axis=1)
        return loss, ({**parts, "model_loss": loss, "td_target": jnp.mean(td)}, zs, valid_z)

    def loss(
        self, state: TDMPC2State, seqs: Sequences, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        """The model's and the Qs' loss (and its parts) on windows ``[B, H]`` at ``state``."""
        loss, (metrics, _, _) = self.model_losses(_Learned(state.model, state.qs), state, seqs, key)
        return loss, metrics

    def policy_loss(self, pi, qs, scale: ReturnScale, zs, valid_z, key):
        """The policy prior's loss on the rolled latents ``[B, H + 1, Z]`` (constants) and the
        updated value scale: ``-(entropy_coef * entropy + Q / scale)``, ``rho ** t``-weighted,
        ``Q`` the mean of two random members (their weights constant)."""
        c = self.config
        b, n = zs.shape[:2]
        keys = jax.random.split(key, (b, n, 2))

        def one(z, k):
            action, _, entropy = self._policy(pi, z, k[0])
            return jnp.mean(self._q_pair(qs, z, action, k[1])), entropy

        q, entropy = jax.vmap(jax.vmap(one))(zs, keys)
        value_scale, new_scale = return_scale(scale, jax.lax.stop_gradient(q[:, 0]))
        weight = valid_z * c.rho ** jnp.arange(n)
        loss = -jnp.mean(jnp.mean(weight * (c.entropy_coef * entropy + q / value_scale), axis=0))
        return loss, (new_scale, {"pi_loss": loss, "pi_entropy": jnp.mean(entropy),
                                  "value_scale": value_scale, "q": jnp.mean(q)})  # fmt: skip

    def _train_step(self, state: TDMPC2State, buffer: ReplayBuffer, key: PRNGKeyArray):
        c = self.config
        k_seq, k_model, k_pi = jax.random.split(key, 3)
        seqs = sample_sequences(buffer, k_seq, c.batch_size, c.horizon)
        learned = _Learned(state.model, state.qs)
        grad_fn = jax.value_and_grad(self.model_losses, has_aux=True)
        (_, (metrics, zs, valid_z)), grads = grad_fn(learned, state, seqs, k_model)
        opt, pi_opt = self._optimizers()
        updates, opt_state = opt.update(grads, state.opt, learned)
        updates = updates._replace(
            model=updates.model._replace(
                encoder=jax.tree.map(lambda u: c.enc_lr_scale * u, updates.model.encoder)
            )
        )
        learned = optax.apply_updates(learned, updates)
        zs = jax.lax.stop_gradient(zs)
        pi_grad = jax.value_and_grad(self.policy_loss, has_aux=True)
        (_, (scale, pi_metrics)), g = pi_grad(
            state.pi, jax.lax.stop_gradient(learned.qs), state.scale, zs, valid_z, k_pi
        )
        pi_updates, pi_opt_state = pi_opt.update(g, state.pi_opt, state.pi)
        pi = optax.apply_updates(state.pi, pi_updates)
        target_qs = optax.incremental_update(learned.qs, state.target_qs, c.tau)
        new = state._replace(
            model=learned.model, pi=pi, qs=learned.qs, target_qs=target_qs, opt=opt_state,
            pi_opt=pi_opt_state, scale=scale, updates=state.updates + 1,
        )  # fmt: skip
        return new, {**metrics, **pi_metrics}

    @functools.partial(jax.jit, static_argnums=0)
    def _updates(self, state: TDMPC2State, buffer: ReplayBuffer, key: PRNGKeyArray):
        state, metrics = jax.lax.scan(
            lambda s, k: self._train_step(s, buffer, k),
            state,
            jax.random.split(key, self.config.train_steps),
        )
        return state, {k: jnp.mean(v) for k, v in metrics.items()}

    def update(
        self, state: TDMPC2State, buffer: ReplayBuffer, key: PRNGKeyArray
    ) -> tuple[TDMPC2State, dict[str, Array]]:
        """``train_steps`` gradient steps; the first update also catches up one step per
        row collected so far (TD-MPC2's pre-training on its seed steps)."""
        rounds = 1
        if int(state.updates) == 0:
            rounds = max(1, -(-int(buffer.size) // self.config.train_steps))
        metrics: dict[str, Array] = {}
        for k in jax.random.split(key, rounds):
            state, metrics = self._updates(state, buffer, k)
        return state, metrics
