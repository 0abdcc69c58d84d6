"""Probabilistic ensemble of neural networks (Chua et al., 2018, "PETS").

Each of ``E`` members is an MLP from the normalised ``concat(obs, action)`` to a Gaussian over
the normalised targets ``concat(next_obs - obs, reward?)`` (mean and soft-bounded log-variance),
plus an optional termination logit. Member weights are stacked on a leading axis ``E``, and
functions on rows grouped by member (static ``counts``) let each member process its own rows
with one plain matmul per layer: this is what makes particle propagation fast (``_forward``).

    model = ProbabilisticEnsemble(EnsembleConfig(), obs_dim=4, action_dim=1)
    params = model.init(key)
    params, metrics = model.fit(params, buffer.data, buffer.size, key)   # one jitted call
    next_obs, reward, terminated = model.step(params, obs, action, key, reward_fn, done_fn)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.data.buffer import Transition
from mbrlax.data.normalizer import Normalizer
from mbrlax.models.base import DynamicsModel, TaskFn

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "silu": jax.nn.silu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
}

# Rows evaluated per validation chunk: bounds memory (E x chunk x width) whatever the capacity.
_VAL_CHUNK = 2048


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """Hyper-parameters of a :class:`ProbabilisticEnsemble` (defaults: PETS, Chua et al. 2018).

    Attributes:
        num_members: number of networks ``E`` in the ensemble.
        num_elites: number ``K`` of members with the lowest validation error used for
            prediction (``step``, particle propagation).
        hidden_sizes: width of each hidden layer of every member.
        activation: hidden-layer nonlinearity (``"silu"`` is the "swish" of the paper).
        probabilistic: True: each member outputs a Gaussian trained by negative log-likelihood
            (the "PE" model). False: means only, trained with MSE (the "DE" model); sampling
            then returns the mean.
        learn_reward: also predict the reward (an extra Gaussian output). Needed when no
            known reward function is passed to ``step``.
        learn_termination: also predict termination (a logit trained with sigmoid
            cross-entropy; ``terminated`` is ``probability > 0.5``). Needed when no known
            termination function is passed to ``step``.
        learning_rate: Adam step size.
        weight_decay: decoupled (AdamW) weight decay on the weight matrices (not biases).
        batch_size: minibatch size per member.
        max_epochs: most epochs per ``fit``.
        patience: stop when no member's validation score improved by more than
            ``min_improvement`` (relative) for this many epochs in a row.
        min_batches_per_epoch: an epoch is ``max(ceil(n_train / batch_size), this)``
            minibatches. A first episode's few hundred rows make one minibatch, and 100 such
            "epochs" (100 gradient steps) leave a learned reward far from fitted; with at least
            20 an epoch is enough training for ``patience`` to judge.
        max_updates: most gradient steps per ``fit`` (0: no cap). The MBPO code's
            ``max_grad_updates`` (its ``max_model_t`` caps by seconds, which would make runs
            depend on the machine): bounds a refit on a large buffer.
        nll_beta: the beta of beta-NLL (Seitzer et al., 2022): each target's Gaussian NLL is
            weighted by ``stop_gradient(var ** beta)``. 0 is the plain NLL, under which
            targets predicted with a small variance (the near-deterministic state deltas)
            dominate the gradient and noisier ones (a learned reward) are hardly fitted; 1
            gives the means MSE's gradient. 0.5 is the paper's recommendation.
        holdout_ratio: fraction of the filled rows held out for validation (early stopping and
            elite selection); re-drawn at every ``fit``.
        max_holdout: most rows held out (the MBPO code's ``max_logging = 5000``): past 25,000
            rows more validation only slows every epoch down.
        init_max_logvar: initial upper soft bound of the normalised log-variance.
        init_min_logvar: initial lower soft bound of the normalised log-variance.
        logvar_bound_coef: weight of the penalty ``sum(max_logvar) - sum(min_logvar)`` that
            tightens the learned bounds.
        min_improvement: relative decrease of a member's validation score that counts as
            progress for early stopping (0.01 = 1%).
    """

    num_members: int = 7
    num_elites: int = 5
    hidden_sizes: tuple[int, ...] = (200, 200, 200, 200)
    activation: Literal["silu", "relu", "tanh", "elu", "gelu"] = "silu"
    probabilistic: bool = True
    learn_reward: bool = False
    learn_termination: bool = False
    learning_rate: float = 1e-3
    weight_decay: float = 5e-5
    batch_size: int = 256
    max_epochs: int = 100
    patience: int = 5
    min_batches_per_epoch: int = 20
    max_updates: int = 0
    nll_beta: float = 0.5
    holdout_ratio: float = 0.2
    max_holdout: int = 5000
    init_max_logvar: float = 0.5
    init_min_logvar: float = -10.0
    logvar_bound_coef: float = 0.01
    min_improvement: float = 0.01

    def __post_init__(self):
        if self.num_members < 1:
            raise ValueError(f"num_members must be >= 1, got {self.num_members}.")
        if not 1 <= self.num_elites <= self.num_members:
            raise ValueError(
                f"num_elites must be between 1 and num_members={self.num_members}, "
                f"got {self.num_elites}."
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {sorted(_ACTIVATIONS)}."
            )
        if not 0.0 <= self.holdout_ratio < 1.0:
            raise ValueError(f"holdout_ratio must be in [0, 1), got {self.holdout_ratio}.")
        if self.max_holdout < 1:
            raise ValueError(f"max_holdout must be >= 1, got {self.max_holdout}.")
        if self.batch_size < 1 or self.max_epochs < 0 or self.patience < 1:
            raise ValueError("batch_size and patience must be >= 1 and max_epochs >= 0.")
        if self.min_batches_per_epoch < 1 or self.max_updates < 0:
            raise ValueError(
                f"min_batches_per_epoch must be >= 1 and max_updates >= 0 (0: no cap), got "
                f"{self.min_batches_per_epoch} and {self.max_updates}."
            )
        if not 0.0 <= self.nll_beta <= 1.0:
            raise ValueError(f"nll_beta must be in [0, 1], got {self.nll_beta}.")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}.")
        if self.init_min_logvar >= self.init_max_logvar:
            raise ValueError("init_min_logvar must be below init_max_logvar.")


class EnsembleWeights(eqx.Module):
    """The trainable part of the ensemble, every leaf with a leading member axis ``M``.

    Attributes:
        weights: per layer ``[M, in, out]``.
        biases: per layer ``[M, out]``.
        max_logvar: ``[M, T]`` learned upper soft bound of the normalised log-variance.
        min_logvar: ``[M, T]`` learned lower soft bound.
    """

    weights: tuple[Float[Array, "M i o"], ...]
    biases: tuple[Float[Array, "M o"], ...]
    max_logvar: Float[Array, "M T"]
    min_logvar: Float[Array, "M T"]


class EnsembleParams(eqx.Module):
    """Everything ``predict`` and ``step`` need (a pytree of arrays).

    Attributes:
        net: the members' weights (leading axis ``E``).
        input_norm: statistics of ``concat(obs, action)`` (``[d + A]``) of the training data.
        output_norm: statistics of the targets ``concat(next_obs - obs, reward?)`` (``[T]``).
        elite_idx: ``[K]`` int32, the members used for prediction, best first.
    """

    net: EnsembleWeights
    input_norm: Normalizer
    output_norm: Normalizer
    elite_idx: Int[Array, " K"]


class MemberPrediction(NamedTuple):
    """Predictions of rows grouped by member, in the targets' units (not normalised).

    Attributes:
        mean: ``[N, T]`` mean of ``concat(next_obs - obs, reward?)``.
        var: ``[N, T]`` variance (zeros for a deterministic ensemble).
        termination_logit: ``[N]`` logit of termination, or None if not learned.
    """

    mean: Float[Array, "N T"]
    var: Float[Array, "N T"]
    termination_logit: Float[Array, " N"] | None


class _TrainCarry(NamedTuple):
    net: EnsembleWeights
    opt_state: optax.OptState
    key: PRNGKeyArray
    loss_sum: Float[Array, ""]
    steps: Int[Array, ""]


class _EpochCarry(NamedTuple):
    net: EnsembleWeights
    opt_state: optax.OptState
    key: PRNGKeyArray
    best_net: EnsembleWeights
    best_score: Float[Array, " E"]  # lowest validation score so far, per member
    best_mse: Float[Array, " E"]  # validation MSE of best_net, per member
    ref_score: Float[Array, " E"]  # score at the last significant improvement (patience)
    epoch: Int[Array, ""]
    updates: Int[Array, ""]  # gradient steps so far
    since_improved: Int[Array, ""]
    train_loss: Float[Array, ""]


class _FitData(NamedTuple):
    """Training rows in random order: validation rows are ``[val_lo, val_hi)``, training
    rows ``[n_val, n)``."""

    x: Float[Array, "C i"]
    y: Float[Array, "C T"]
    done: Float[Array, " C"]
    n_val: Int[Array, ""]
    n_train: Int[Array, ""]
    val_lo: Int[Array, ""]
    val_hi: Int[Array, ""]


@dataclasses.dataclass(frozen=True)
class ProbabilisticEnsemble(DynamicsModel):
    """An ensemble model; static and hashable, its methods are pure functions of ``params``.

    Attributes:
        config: hyper-parameters.
        obs_dim: ``d``, size of a (flat) observation.
        action_dim: ``A``, size of an action.
    """

    config: EnsembleConfig
    obs_dim: int
    action_dim: int

    def __post_init__(self):
        if self.obs_dim < 1 or self.action_dim < 1:
            raise ValueError(
                f"obs_dim and action_dim must be >= 1, got {self.obs_dim} and {self.action_dim}."
            )

    # ---- sizes -------------------------------------------------------------------------------

    @property
    def input_dim(self) -> int:
        """``d + A``."""
        return self.obs_dim + self.action_dim

    @property
    def target_dim(self) -> int:
        """``T = d (+ 1 if learn_reward)``: the Gaussian outputs."""
        return self.obs_dim + int(self.config.learn_reward)

    @property
    def _output_dim(self) -> int:
        t = self.target_dim
        return t * (2 if self.config.probabilistic else 1) + int(self.config.learn_termination)

    # ---- parameters --------------------------------------------------------------------------

    def init(self, key: PRNGKeyArray) -> EnsembleParams:
        """Fresh parameters: truncated-normal weights (std ``1 / (2 sqrt(fan_in))``, as in
        PETS), zero biases, identity normalisers, elites = the first ``K`` members."""
        cfg = self.config
        sizes = (self.input_dim, *cfg.hidden_sizes, self._output_dim)
        keys = jax.random.split(key, len(sizes) - 1)
        weights = tuple(
            jax.random.truncated_normal(k, -2.0, 2.0, (cfg.num_members, i, o)) / (2 * math.sqrt(i))
            for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)
        )
        biases = tuple(jnp.zeros((cfg.num_members, o)) for o in sizes[1:])
        bound = jnp.ones((cfg.num_members, self.target_dim))
        net = EnsembleWeights(
            weights=weights,
            biases=biases,
            max_logvar=cfg.init_max_logvar * bound,
            min_logvar=cfg.init_min_logvar * bound,
        )
        return EnsembleParams(
            net=net,
            input_norm=Normalizer.create((self.input_dim,)),
            output_norm=Normalizer.create((self.target_dim,)),
            elite_idx=jnp.arange(cfg.num_elites, dtype=jnp.int32),
        )

    def select_members(self, params: EnsembleParams, members: Int[Array, " M"]) -> EnsembleParams:
        """Params holding only ``members [M]`` (in that order); their ``elite_idx`` is
        ``arange(M)``. Gather once (e.g. the elites before a planning rollout) rather than per
        example."""
        net = jax.tree.map(lambda w: w[members], params.net)
        return EnsembleParams(
            net=net,
            input_norm=params.input_norm,
            output_norm=params.output_norm,
            elite_idx=jnp.arange(members.shape[0], dtype=jnp.int32),
        )

    # ---- forward -----------------------------------------------------------------------------

    def _forward(
        self, net: EnsembleWeights, x: Float[Array, "N i"], counts: tuple[int, ...]
    ) -> tuple[Float[Array, "N T"], Float[Array, "N T"] | None, Float[Array, " N"] | None]:
        """Normalised inputs -> (mean, log-variance or None, termination logit or None).

        Rows are grouped by member: the first ``counts[0]`` rows go through member 0, the next
        ``counts[1]`` through member 1, and so on (``len(counts)`` = members in ``net``).
        """
        act = _ACTIVATIONS[self.config.activation]
        last = len(net.weights) - 1
        outputs, start = [], 0
        # Unrolled over the (few) members, each a plain [n, i] @ [i, o] matmul per layer rather
        # than one batched einsum("mni,mio->mno"): on CPU the plain products ran 10-15% closer
        # to the matmul peak; under the planner's vmap each one takes every candidate's rows;
        # and groups may differ in size, so particles need no padding.
        for m, n in enumerate(counts):
            h = x[start : start + n]
            start += n
            for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
                h = h @ w[m] + b[m]
                if i < last:
                    h = act(h)
            outputs.append(h)
        h = jnp.concatenate(outputs) if len(outputs) > 1 else outputs[0]
        t = self.target_dim
        mean = h[:, :t]
        logvar = None
        if self.config.probabilistic:
            rows = functools.partial(
                jnp.repeat, repeats=np.asarray(counts), axis=0, total_repeat_length=x.shape[0]
            )
            max_lv, min_lv = rows(net.max_logvar), rows(net.min_logvar)
            # PETS soft bounds: smooth clipping into [min_lv, max_lv] that keeps gradients.
            logvar = max_lv - jax.nn.softplus(max_lv - h[:, t : 2 * t])
            logvar = min_lv + jax.nn.softplus(logvar - min_lv)
        logit = h[:, -1] if self.config.learn_termination else None
        return mean, logvar, logit

    def _forward_chunks(self, net: EnsembleWeights, x: Float[Array, "M N i"]):
        """``_forward`` on equal chunks: member ``m`` takes ``x[m]``; outputs ``[M, N, ...]``."""
        m, n = x.shape[:2]
        outs = self._forward(net, x.reshape(m * n, x.shape[2]), (n,) * m)
        return tuple(None if o is None else o.reshape((m, n) + o.shape[1:]) for o in outs)

    def _counts(self, params: EnsembleParams, n: int, counts: tuple[int, ...] | None):
        """Static row counts per member; default: one row each."""
        members = params.net.max_logvar.shape[0]
        counts = (1,) * members if counts is None else tuple(int(c) for c in counts)
        if len(counts) != members or sum(counts) != n or min(counts) < 0:
            raise ValueError(
                f"counts {counts} must give one non-negative row count per member "
                f"({members}) summing to the number of rows ({n})."
            )
        return counts

    def predict_members(
        self,
        params: EnsembleParams,
        obs: Float[Array, "N d"],
        action: Float[Array, "N A"],
        counts: tuple[int, ...] | None = None,
    ) -> MemberPrediction:
        """Rows grouped by member: the first ``counts[0]`` rows are predicted by member 0 of
        ``params``, the next ``counts[1]`` by member 1, ... (``counts``: static ints, one per
        member of ``params``, i.e. ``E``, or ``K`` after :meth:`select_members`; default one
        row each). Returns ``MemberPrediction`` with ``mean, var [N, T]``, ``logit [N]``."""
        counts = self._counts(params, obs.shape[0], counts)
        x = params.input_norm.normalize(jnp.concatenate([obs, action], axis=-1))
        mean_n, logvar, logit = self._forward(params.net, x, counts)
        std = params.output_norm.std
        mean = params.output_norm.denormalize(mean_n)
        var = jnp.zeros_like(mean) if logvar is None else jnp.exp(logvar) * jnp.square(std)
        return MemberPrediction(mean, var, logit)

    def predict(
        self, params: EnsembleParams, obs: Float[Array, " d"], action: Float[Array, " A"]
    ) -> tuple[Float[Array, "E T"], Float[Array, "E T"]]:
        """Every member's Gaussian over the targets ``concat(next_obs - obs, reward?)``.

        Returns ``(mean [E, T], var [E, T])`` in the targets' units (var is 0 when the ensemble
        is deterministic).
        """
        obs, action = self.check_example(obs, action)
        e = params.net.max_logvar.shape[0]
        pred = self.predict_members(
            params,
            jnp.broadcast_to(obs, (e, self.obs_dim)),
            jnp.broadcast_to(action, (e, self.action_dim)),
        )
        return pred.mean, pred.var

    def sample_members(
        self,
        params: EnsembleParams,
        obs: Float[Array, "N d"],
        action: Float[Array, "N A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
        counts: tuple[int, ...] | None = None,
    ) -> tuple[Float[Array, "N d"], Float[Array, " N"], Bool[Array, " N"]]:
        """One sampled step for each row, rows grouped by member as in :meth:`predict_members`.

        Returns ``(next_obs [N, d], reward [N], terminated [N])``: a Gaussian sample of the
        targets (the mean if deterministic); reward and termination from the given functions
        of ``(obs, action, next_obs)`` when given, else from the learned heads.
        """
        self.check_task_fns(reward_fn, termination_fn)
        pred = self.predict_members(params, obs, action, counts)
        return self.sample_prediction(pred, obs, action, key, reward_fn, termination_fn)

    def sample_prediction(
        self,
        pred: MemberPrediction,
        obs: Float[Array, "N d"],
        action: Float[Array, "N A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, "N d"], Float[Array, " N"], Bool[Array, " N"]]:
        """:meth:`sample_members` from a prediction already made by :meth:`predict_members`
        (for callers that also use the prediction itself, e.g. the members' disagreement)."""
        self.check_task_fns(reward_fn, termination_fn)
        sample = pred.mean
        if self.config.probabilistic:
            sample = sample + jnp.sqrt(pred.var) * jax.random.normal(key, sample.shape)
        next_obs = obs + sample[:, : self.obs_dim]
        reward_head = sample[:, self.obs_dim] if self.config.learn_reward else None
        prob = None if pred.termination_logit is None else jax.nn.sigmoid(pred.termination_logit)
        return (
            next_obs,
            *self._outcome(obs, action, next_obs, reward_head, prob, reward_fn, termination_fn),
        )

    def step(
        self,
        params: EnsembleParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """One sampled transition of ONE example from a uniformly random elite member.

        Returns ``(next_obs [d], reward [], terminated [])``. All ``K`` elites are evaluated and
        one is picked, so under ``vmap`` no per-example copy of the weights is made; to move
        many particles at once, :mod:`mbrlax.models.propagation` is ``K`` times cheaper.

        Raises:
            ValueError: (at trace time) no ``reward_fn`` and ``learn_reward`` is off, or no
                ``termination_fn`` and ``learn_termination`` is off.
        """
        self.check_task_fns(reward_fn, termination_fn)
        obs, action = self.check_example(obs, action)
        elites = self.select_members(params, params.elite_idx)
        k = self.config.num_elites
        key_member, key_noise = jax.random.split(key)
        nxt, rew, done = self.sample_members(
            elites,
            jnp.broadcast_to(obs, (k, self.obs_dim)),
            jnp.broadcast_to(action, (k, self.action_dim)),
            key_noise,
            reward_fn,
            termination_fn,
        )
        m = jax.random.randint(key_member, (), 0, k)
        return nxt[m], rew[m], done[m]

    def expected_step(
        self,
        params: EnsembleParams,
        obs: Float[Array, " d"],
        action: Float[Array, " A"],
        reward_fn: TaskFn | None = None,
        termination_fn: TaskFn | None = None,
    ) -> tuple[Float[Array, " d"], Float[Array, ""], Bool[Array, ""]]:
        """The deterministic mean step of ONE example: ``obs +`` the elites' mean predicted
        delta. Learned reward is the elites' mean; learned termination is ``mean probability >
        0.5``. Returns ``(next_obs [d], reward [], terminated [])``."""
        self.check_task_fns(reward_fn, termination_fn)
        obs, action = self.check_example(obs, action)
        elites = self.select_members(params, params.elite_idx)
        k = self.config.num_elites
        pred = self.predict_members(
            elites,
            jnp.broadcast_to(obs, (k, self.obs_dim)),
            jnp.broadcast_to(action, (k, self.action_dim)),
        )
        mean = jnp.mean(pred.mean, axis=0)
        next_obs = obs + mean[: self.obs_dim]
        reward_head = mean[self.obs_dim] if self.config.learn_reward else None
        prob = None
        if pred.termination_logit is not None:
            prob = jnp.mean(jax.nn.sigmoid(pred.termination_logit))
        reward, done = self._outcome(
            obs[None], action[None], next_obs[None],
            None if reward_head is None else reward_head[None],
            None if prob is None else prob[None],
            reward_fn, termination_fn,
        )  # fmt: skip
        return next_obs, reward[0], done[0]

    def _outcome(self, obs, action, next_obs, reward_head, prob, reward_fn, termination_fn):
        """(reward, terminated) over any leading axes, from the known functions if given."""
        if reward_fn is not None:
            reward = _map_examples(reward_fn, obs, action, next_obs).astype(jnp.float32)
        else:
            reward = reward_head
        if termination_fn is not None:
            done = _map_examples(termination_fn, obs, action, next_obs).astype(bool)
        else:
            done = prob > 0.5
        return reward, done

    def check_task_fns(self, reward_fn: TaskFn | None, termination_fn: TaskFn | None) -> None:
        """Raise a ValueError saying what to pass if reward or termination has no source."""
        if reward_fn is None and not self.config.learn_reward:
            raise ValueError(
                "the ensemble has no reward head: pass reward_fn=(obs, action, next_obs) -> [] "
                "(see mbrlax.envs for known ones) or build it with "
                "EnsembleConfig(learn_reward=True) and fit it."
            )
        if termination_fn is None and not self.config.learn_termination:
            raise ValueError(
                "the ensemble has no termination head: pass termination_fn=(obs, action, "
                "next_obs) -> [] bool (for an env that never terminates, "
                "lambda o, a, n: jnp.array(False)) or build it with "
                "EnsembleConfig(learn_termination=True) and fit it."
            )

    # ---- training ----------------------------------------------------------------------------

    def fit(
        self,
        params: EnsembleParams,
        data: Transition,
        size: Int[Array, ""] | int,
        key: PRNGKeyArray,
    ) -> tuple[EnsembleParams, dict[str, Float[Array, ""]]]:
        """Train every member on the first ``size`` rows of ``data`` (one jitted call).

        ``data`` holds capacity-sized arrays (``buffer.data``: obs ``[C, d]``, action
        ``[C, A]``, reward ``[C]``, next_obs ``[C, d]``, terminated ``[C]``); ``size`` is traced,
        so a growing buffer compiles once per capacity. A random ``holdout_ratio`` of the rows
        (at most ``max_holdout``) validates (all rows if that leaves none); normalisers are
        refitted to the training rows;
        each member draws its own bootstrap minibatches (with replacement) from the training
        rows, ``max(ceil(n_train / batch_size), min_batches_per_epoch)`` per epoch; training
        stops early after ``patience`` epochs without progress (or after ``max_updates``
        gradient steps), and each member keeps its best-validation weights. The ``num_elites``
        members with the lowest validation score become the elites.

        Returns ``(params, metrics)`` with metrics ``train_loss`` (mean member loss of the last
        epoch), ``val_mse`` (elites' mean validation MSE of the normalised targets, so 1.0 is
        as good as predicting the mean), ``epochs`` and ``updates`` (gradient steps).
        """
        self.check_fit_data(data, size, fields=("reward", "terminated"))
        return _fit_jit(self, params, data, jnp.asarray(size, jnp.int32), key)

    def _member_losses(
        self,
        net: EnsembleWeights,
        x: Float[Array, "E B i"],
        y: Float[Array, "E B T"],
        done: Float[Array, "E B"],
    ) -> Float[Array, " E"]:
        """Each member's training loss on its own minibatch (normalised units)."""
        mean, logvar, logit = self._forward_chunks(net, x)
        if logvar is None:
            loss = jnp.mean(jnp.square(mean - y), axis=(1, 2))
        else:
            nll = jnp.square(mean - y) * jnp.exp(-logvar) + logvar
            if self.config.nll_beta:
                nll = nll * jax.lax.stop_gradient(jnp.exp(self.config.nll_beta * logvar))
            bounds = jnp.sum(net.max_logvar, axis=1) - jnp.sum(net.min_logvar, axis=1)
            loss = jnp.mean(nll, axis=(1, 2)) + self.config.logvar_bound_coef * bounds
        if logit is not None:
            loss = loss + jnp.mean(optax.sigmoid_binary_cross_entropy(logit, done), axis=1)
        return loss

    def _optimizer(self, net: EnsembleWeights) -> optax.GradientTransformation:
        # Decay the weight matrices only: decaying biases or the log-variance bounds would
        # pull them towards 0 for no regularising benefit.
        mask = EnsembleWeights(
            weights=tuple(True for _ in net.weights),
            biases=tuple(False for _ in net.biases),
            max_logvar=False,
            min_logvar=False,
        )
        return optax.adamw(
            self.config.learning_rate, weight_decay=self.config.weight_decay, mask=mask
        )

    def _prepare(self, params: EnsembleParams, data: Transition, size, key) -> tuple:
        """Shuffle, split, refit normalisers; returns (params with new normalisers, _FitData)."""
        cfg = self.config
        cap = data.obs.shape[0]
        n = jnp.clip(size, 0, cap)
        pos = jnp.arange(cap)
        # Filled rows first, in random order; the empty tail stays behind them.
        order = jnp.argsort(jnp.where(pos < n, jax.random.uniform(key, (cap,)), 2.0))
        n_val = jnp.floor(n * cfg.holdout_ratio).astype(jnp.int32)
        n_val = jnp.minimum(jnp.minimum(n_val, cfg.max_holdout), n - 1)
        n_val = jnp.maximum(n_val, 0)
        has_val = n_val > 0
        inputs = jnp.concatenate([data.obs, data.action], axis=-1)[order].astype(jnp.float32)
        targets = [data.next_obs - data.obs]
        if cfg.learn_reward:
            targets.append(data.reward[:, None])
        targets = jnp.concatenate(targets, axis=-1)[order].astype(jnp.float32)
        train = (pos >= n_val) & (pos < n)
        in_norm = Normalizer.create((self.input_dim,)).update(inputs, train)
        out_norm = Normalizer.create((self.target_dim,)).update(targets, train)
        fd = _FitData(
            x=in_norm.normalize(inputs),
            y=out_norm.normalize(targets),
            done=data.terminated[order].astype(jnp.float32),
            n_val=n_val,
            n_train=n - n_val,
            val_lo=jnp.where(has_val, 0, n_val),
            val_hi=jnp.where(has_val, n_val, n),
        )
        params = EnsembleParams(params.net, in_norm, out_norm, params.elite_idx)
        return params, fd

    def _validate(
        self, net: EnsembleWeights, fd: _FitData
    ) -> tuple[Float[Array, " E"], Float[Array, " E"]]:
        """Per-member (score, mse) on the validation rows; score adds termination BCE."""
        e = net.max_logvar.shape[0]
        cap = fd.x.shape[0]
        chunk = min(cap, _VAL_CHUNK)
        count = fd.val_hi - fd.val_lo

        def body(i, sums):
            rows = fd.val_lo + i * chunk + jnp.arange(chunk)
            valid = (rows < fd.val_hi).astype(jnp.float32)
            rows = jnp.minimum(rows, cap - 1)
            x = jnp.broadcast_to(fd.x[rows], (e, chunk, fd.x.shape[1]))
            mean, _, logit = self._forward_chunks(net, x)
            se = jnp.sum(jnp.square(mean - fd.y[rows]), axis=-1) @ valid
            bce = jnp.zeros((e,))
            if logit is not None:
                bce = optax.sigmoid_binary_cross_entropy(logit, fd.done[rows]) @ valid
            return sums[0] + se, sums[1] + bce

        zeros = jnp.zeros((e,))
        se, bce = jax.lax.fori_loop(0, (count + chunk - 1) // chunk, body, (zeros, zeros))
        count = jnp.maximum(count, 1).astype(jnp.float32)
        mse = se / (count * self.target_dim)
        return mse + bce / count, mse

    def _train_epoch(
        self, net, opt_state, key, fd: _FitData, opt, max_steps: Int[Array, ""]
    ) -> _TrainCarry:
        """One epoch (at most ``max_steps`` gradient steps); ``loss_sum`` is its mean loss."""
        cfg = self.config
        e = net.max_logvar.shape[0]

        def loss_fn(net, x, y, done):
            return jnp.sum(self._member_losses(net, x, y, done))

        def body(_, c: _TrainCarry) -> _TrainCarry:
            key, sub = jax.random.split(c.key)
            # Bootstrap: each member draws its own rows, with replacement, from the train rows.
            idx = fd.n_val + jax.random.randint(sub, (e, cfg.batch_size), 0, fd.n_train)
            grad_fn = jax.value_and_grad(loss_fn)
            loss, grads = grad_fn(c.net, fd.x[idx], fd.y[idx], fd.done[idx])
            updates, opt_state = opt.update(grads, c.opt_state, c.net)
            net = optax.apply_updates(c.net, updates)
            return _TrainCarry(net, opt_state, key, c.loss_sum + loss, c.steps + 1)

        num_batches = jnp.maximum(
            (fd.n_train + cfg.batch_size - 1) // cfg.batch_size, cfg.min_batches_per_epoch
        )
        num_batches = jnp.minimum(num_batches, max_steps)
        init = _TrainCarry(net, opt_state, key, jnp.zeros(()), jnp.zeros((), jnp.int32))
        out = jax.lax.fori_loop(0, num_batches, body, init)
        mean_loss = out.loss_sum / (e * jnp.maximum(num_batches, 1))
        return out._replace(loss_sum=mean_loss)


def _fit(
    model: ProbabilisticEnsemble,
    params: EnsembleParams,
    data: Transition,
    size: Int[Array, ""],
    key: PRNGKeyArray,
) -> tuple[EnsembleParams, dict[str, Float[Array, ""]]]:
    cfg = model.config
    key_split, key_train = jax.random.split(key)
    params, fd = model._prepare(params, data, size, key_split)
    opt = model._optimizer(params.net)
    score0, mse0 = model._validate(params.net, fd)

    max_updates = cfg.max_updates or jnp.iinfo(jnp.int32).max

    def cond(c: _EpochCarry):
        return (
            (c.epoch < cfg.max_epochs)
            & (c.since_improved < cfg.patience)
            & (c.updates < max_updates)
        )

    def body(c: _EpochCarry) -> _EpochCarry:
        key, sub = jax.random.split(c.key)
        t = model._train_epoch(c.net, c.opt_state, sub, fd, opt, max_updates - c.updates)
        score, mse = model._validate(t.net, fd)
        better = score < c.best_score
        best_net = jax.tree.map(
            lambda new, old: jnp.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            t.net,
            c.best_net,
        )
        significant = c.ref_score - score > cfg.min_improvement * jnp.abs(c.ref_score)
        return _EpochCarry(
            net=t.net,
            opt_state=t.opt_state,
            key=key,
            best_net=best_net,
            best_score=jnp.where(better, score, c.best_score),
            best_mse=jnp.where(better, mse, c.best_mse),
            ref_score=jnp.where(significant, score, c.ref_score),
            epoch=c.epoch + 1,
            updates=c.updates + t.steps,
            since_improved=jnp.where(jnp.any(significant), 0, c.since_improved + 1),
            train_loss=t.loss_sum,
        )

    init = _EpochCarry(
        net=params.net,
        opt_state=opt.init(params.net),
        key=key_train,
        best_net=params.net,
        best_score=score0,
        best_mse=mse0,
        ref_score=score0,
        epoch=jnp.zeros((), jnp.int32),
        updates=jnp.zeros((), jnp.int32),
        since_improved=jnp.zeros((), jnp.int32),
        train_loss=jnp.full((), jnp.nan),
    )
    out = jax.lax.while_loop(cond, body, init)
    elite_idx = jnp.argsort(out.best_score)[: cfg.num_elites].astype(jnp.int32)
    params = EnsembleParams(out.best_net, params.input_norm, params.output_norm, elite_idx)
    metrics = {
        "train_loss": out.train_loss,
        "val_mse": jnp.mean(out.best_mse[elite_idx]),
        "epochs": out.epoch,
        "updates": out.updates,
    }
    return params, metrics


# Compiled once per (model, capacity): `size` is a traced argument.
_fit_jit = jax.jit(_fit, static_argnums=0)


def _map_examples(fn: TaskFn, obs: Array, action: Array, next_obs: Array) -> Array:
    """Apply a one-example function over the leading axes of ``obs [..., d]``."""
    lead = obs.shape[:-1]
    flat = jax.vmap(fn)(
        obs.reshape(-1, obs.shape[-1]),
        action.reshape(-1, action.shape[-1]),
        next_obs.reshape(-1, next_obs.shape[-1]),
    )
    return jnp.reshape(flat, lead)


__all__ = [
    "EnsembleConfig",
    "EnsembleParams",
    "EnsembleWeights",
    "MemberPrediction",
    "ProbabilisticEnsemble",
    "TaskFn",
]
