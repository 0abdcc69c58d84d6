"""The recurrent state-space model (RSSM) of PlaNet and Dreamer, as DreamerV3 writes it
(Hafner et al. 2019, 2023): a latent state made of a deterministic recurrent part ``h`` and a
stochastic part ``z`` of ``G`` categoricals with ``K`` classes each.

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])       the sequence model
    z_t ~ q(z | h_t, embed(x_t))                  the posterior (representation), from the obs
    z_t ~ p(z | h_t)                              the prior (dynamics), without it
    heads on [h_t, z_t]: the obs (symlog squared error), the reward (symlog two-hot), and
    whether the episode continues (Bernoulli)

It is trained on sequences of consecutive transitions (:mod:`mbrlax.data.sequences`) by one
gradient step at a time (:meth:`RSSM.update`); the prior is what imagination and planning run:
:meth:`RSSM.step` is ``step(nets, state, action, key) -> (next_state, reward, terminated)`` over
the latent state, so any planner plans through it once the nets are closed over, and
:meth:`RSSM.observe_step` filters the latent state with each real observation (acting).

Vector observations go through an MLP encoder and decoder in symlog space; RGB frames (``uint8
[S, S, 3]``, ``S`` a power of two from 8) through DreamerV3's CNN pair: stride-2 4 x 4
convolutions (``depth``, ``2 depth``, ... channels, channel LayerNorm and SiLU) down to 4 x 4,
and transposed convolutions back up, the frame scaled to ``[-0.5, 0.5]`` and its reconstruction
error summed over pixels. DreamerV3's defaults are kept where they do not depend on scale
(unimix 1%, free bits 1 nat, KL weights 0.5 / 0.1 of the paper, 255 two-hot bins, a LayerNorm
GRU with update bias -1, gradient norm clipped at 1,000); the sizes default to a model that
trains on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mbrlax.data.sequences import Sequences
from mbrlax.models.distributions import (
    kl_balance,
    straight_through_sample,
    symexp,
    symlog,
    twohot_bins,
    twohot_loss,
    twohot_mean,
    unimix,
)
from mbrlax.models.layers import Dense, apply_mlp, dense, layer_norm, mlp


@dataclasses.dataclass(frozen=True)
class RSSMConfig:
    """Hyper-parameters of an :class:`RSSM`.

    Attributes:
        deter: size of the deterministic recurrent state ``h``.
        stoch: number ``G`` of categorical latents in ``z``.
        classes: classes ``K`` of each categorical.
        units: width of every MLP layer (encoder, decoder, heads, the GRU's input).
        layers: hidden layers of the encoder, the decoder and each head.
        unimix: the uniform mixed into every categorical (DreamerV3: 0.01).
        free_nats: each KL loss is floored at this many nats (DreamerV3: 1).
        dyn_scale: weight of the loss training the prior towards the posterior (paper: 0.5).
        rep_scale: weight of the loss training the posterior towards the prior (paper: 0.1).
        bins: two-hot bins of the reward head (DreamerV3: 255).
        depth: channels of the first convolution for frame observations, doubled at each
            halving of the resolution (DreamerV3: 32 to 96 with model size).
        learning_rate: Adam's step size (DreamerV3 paper: 1e-4).
        grad_clip: the gradient's global norm is clipped to this (DreamerV3 paper: 1000).
    """

    deter: int = 256
    stoch: int = 16
    classes: int = 16
    units: int = 256
    layers: int = 2
    unimix: float = 0.01
    free_nats: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    bins: int = 255
    depth: int = 16
    learning_rate: float = 1e-4
    grad_clip: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("deter", "stoch", "classes", "units", "bins", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"RSSMConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.classes < 2 or self.bins < 2:
            raise ValueError("RSSMConfig.classes and .bins must be >= 2.")
        if self.layers < 0:
            raise ValueError(f"RSSMConfig.layers must be >= 0, got {self.layers}.")
        if not 0.0 <= self.unimix < 1.0:
            raise ValueError(f"RSSMConfig.unimix must be in [0, 1), got {self.unimix}.")


class RSSMState(NamedTuple):
    """The latent state of one example: what imagination, planners and policies see.

    Attributes:
        deter: ``[D]`` the recurrent state ``h``.
        stoch: ``[G, K]`` the categorical latents ``z`` (one-hot samples).
    """

    deter: Float[Array, " D"]
    stoch: Float[Array, "G K"]


FIRST_ROWS = 2
"""Rows per training sequence whose ``obs`` the loss encodes: the sequence's first row and one
episode start inside it, which covers every sequence shorter than an episode (more encode all
rows' ``obs``; see :meth:`RSSM._embeddings`)."""

# The transposed convolution's taps: output row ``2 i + phase`` reads input rows ``i - 1``,
# ``i`` and ``i + 1`` through kernel rows ``_TAPS[phase]`` (None: not at all). This is what
# ``jax.lax.conv_transpose(..., (2, 2), "SAME")`` computes with a 4 x 4 kernel.
_TAPS = ((0, 2, None), (None, 1, 3))


def _shifted(x: Array, size: int, stride: int, out: int) -> Array:
    """``[..., S, S, C] -> [..., out, out, size * size * C]``: the ``size x size`` patches of
    ``x`` padded by one on each side, at ``stride`` (im2col, in the kernel's (row, col, C)
    order)."""
    pad = [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
    xp = jnp.pad(x, pad)
    end = stride * (out - 1) + 1
    cols = [
        xp[..., a : a + end : stride, b : b + end : stride, :]
        for a in range(size)
        for b in range(size)
    ]
    return jnp.concatenate(cols, -1)


def conv_down(x: Float[Array, "... S S i"], weight: Float[Array, "4 4 i o"]) -> Array:
    """A 4 x 4 convolution of stride 2 with "SAME" padding, ``[..., S / 2, S / 2, o]``, as one
    matmul over the patches (XLA's CPU convolutions are slow to differentiate; this is the
    same function, about 1.5x faster with its gradient)."""
    patches = _shifted(x, 4, 2, x.shape[-2] // 2)
    return patches @ weight.reshape(-1, weight.shape[-1])


def conv_up(x: Float[Array, "... S S i"], weight: Float[Array, "4 4 i o"]) -> Array:
    """``jax.lax.conv_transpose`` of stride 2, "SAME", with a 4 x 4 kernel: ``[..., 2 S, 2 S,
    o]``, as one matmul of the 3 x 3 patches with the kernel's taps per output phase
    (:data:`_TAPS`), then the phases interleaved (depth to space)."""
    side, n_in, n_out = x.shape[-2], weight.shape[2], weight.shape[3]
    zero = jnp.zeros((n_in, n_out), weight.dtype)

    def tap(pa: int, pb: int, a: int, b: int) -> Array:
        ka, kb = _TAPS[pa][a], _TAPS[pb][b]
        return zero if ka is None or kb is None else weight[ka, kb]

    taps = jnp.stack(
        [
            jnp.stack([tap(pa, pb, a, b) for pa in range(2) for pb in range(2)], 1)
            for a in range(3)
            for b in range(3)
        ]
    )  # [9, i, 4 phases, o]
    y = _shifted(x, 3, 1, side) @ taps.reshape(9 * n_in, 4 * n_out)
    lead = x.shape[:-3]
    y = y.reshape(*lead, side, side, 2, 2, n_out)
    y = jnp.moveaxis(y, -3, -4)  # [..., S, 2, S, 2, o]
    return y.reshape(*lead, 2 * side, 2 * side, n_out)


class Conv(eqx.Module):
    """``[..., S, S, in] -> [..., S / 2, S / 2, out]``: a 4 x 4 convolution of stride 2
    (:func:`conv_down`), channel LayerNorm and SiLU; ``transpose`` instead doubles the side
    (:func:`conv_up`, the decoder's), and an output layer (no ``scale``) is linear."""

    weight: Float[Array, "4 4 i o"]
    bias: Float[Array, " o"]
    scale: Float[Array, " o"] | None
    offset: Float[Array, " o"] | None
    transpose: bool = eqx.field(static=True, default=False)

    def __call__(self, x: Float[Array, "... S S i"]) -> Float[Array, "... T T o"]:
        y = (conv_up if self.transpose else conv_down)(x, self.weight) + self.bias
        if self.scale is None:
            return y
        return jax.nn.silu(layer_norm(y, self.scale, self.offset))


def _conv(key: PRNGKeyArray, n_in: int, n_out: int, hidden: bool, transpose: bool) -> Conv:
    bound = math.sqrt(3.0 / (16 * n_in))  # variance-scaling (fan-in) uniform
    weight = jax.random.uniform(key, (4, 4, n_in, n_out), jnp.float32, -bound, bound)
    norm = (jnp.ones(n_out), jnp.zeros(n_out)) if hidden else (None, None)
    return Conv(weight, jnp.zeros(n_out), *norm, transpose=transpose)


class FrameEncoder(eqx.Module):
    """``uint8 [S, S, 3] -> [units]``: halve to 4 x 4 with :class:`Conv`, flatten, one
    :class:`Dense`."""

    convs: tuple[Conv, ...]
    out: Dense

    def __call__(self, frame: Array) -> Float[Array, " U"]:
        x = frame.astype(jnp.float32) / 255.0 - 0.5
        for conv in self.convs:
            x = conv(x)
        return self.out(x.reshape(-1))


class FrameDecoder(eqx.Module):
    """``[F] -> [S, S, 3]`` in ``[-0.5, 0.5]`` space: a :class:`Dense` to 4 x 4, then
    transposed :class:`Conv` doubling to ``S`` (the last one linear, 3 channels)."""

    inp: Dense
    convs: tuple[Conv, ...]
    channels: int = eqx.field(static=True)

    def __call__(self, features: Float[Array, " F"]) -> Float[Array, "S S 3"]:
        x = self.inp(features).reshape(4, 4, self.channels)
        for conv in self.convs:
            x = conv(x)
        return x


def frame_stages(obs_shape: tuple[int, ...]) -> int:
    """How many halvings take a frame of ``obs_shape`` to 4 x 4; ``ValueError`` unless it is
    square with a power-of-two side of at least 8."""
    side = obs_shape[0]
    stages = int(round(math.log2(side / 4))) if side >= 4 else 0
    if obs_shape[:2] != (side, side) or side < 8 or 4 * 2**stages != side:
        raise ValueError(
            f"the RSSM's CNN reads square frames with a power-of-two side of at least 8 (16, "
            f"32, 64, ...), got {obs_shape}; ask for one with ?pixels=64 in the env id."
        )
    return stages


def frame_networks(
    key: PRNGKeyArray, obs_shape: tuple[int, ...], depth: int, units: int, feat: int
) -> tuple[FrameEncoder, FrameDecoder]:
    """The CNN encoder and decoder for frames of ``obs_shape``."""
    stages = frame_stages(obs_shape)
    chans = [depth * 2**i for i in range(stages)]
    keys = jax.random.split(key, 2 * stages + 2)
    down = [
        _conv(k, c_in, c_out, True, False)
        for k, c_in, c_out in zip(keys[:stages], [3] + chans[:-1], chans, strict=True)
    ]
    encoder = FrameEncoder(tuple(down), dense(keys[stages], 16 * chans[-1], units, True))
    ups = chans[::-1][1:] + [3]
    up = [
        _conv(k, c_in, c_out, c_out != 3 or i < stages - 1, True)
        for i, (k, c_in, c_out) in enumerate(
            zip(keys[stages + 1 : 2 * stages + 1], chans[::-1], ups, strict=True)
        )
    ]
    inp = dense(keys[-1], feat, 16 * chans[-1], True)
    return encoder, FrameDecoder(inp, tuple(up), chans[-1])


class RSSMNets(eqx.Module):
    """The networks of an :class:`RSSM` (arrays only: they checkpoint as they are); the
    encoder and decoder are MLPs for vectors, a :class:`FrameEncoder` and
    :class:`FrameDecoder` for frames."""

    encoder: Any
    img_in: Dense
    gru: Dense
    prior: tuple[Dense, ...]
    post: tuple[Dense, ...]
    decoder: Any
    reward: tuple[Dense, ...]
    cont: tuple[Dense, ...]


class RSSMParams(NamedTuple):
    """The nets and their optimiser's state."""

    nets: RSSMNets
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class RSSM:
    """A recurrent state-space model of observations of ``obs_shape`` (a vector ``(d,)`` or
    RGB frames ``(S, S, 3)``) and ``action_dim`` actions (see the module docstring). Static and
    hashable: methods jit with it static."""

    config: RSSMConfig
    obs_shape: tuple[int, ...]
    action_dim: int

    def __post_init__(self) -> None:
        if self.is_image:
            frame_stages(self.obs_shape)
        elif len(self.obs_shape) != 1:
            raise ValueError(
                f"the RSSM reads vectors (d,) or RGB frames (S, S, 3), got {self.obs_shape}."
            )

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3

    # ---------------------------------------------------------------- parameters and state
    def init(self, key: PRNGKeyArray) -> RSSMParams:
        c = self.config
        latent = c.stoch * c.classes
        feat = c.deter + latent
        keys = jax.random.split(key, 8)
        if self.is_image:
            encoder, decoder = frame_networks(keys[0], self.obs_shape, c.depth, c.units, feat)
        else:
            (d,) = self.obs_shape
            encoder = mlp(keys[0], d, c.units, c.layers, c.units)
            decoder = mlp(keys[5], feat, c.units, c.layers, d)
        nets = RSSMNets(
            encoder=encoder,
            img_in=dense(keys[1], latent + self.action_dim, c.units, True),
            gru=dense(keys[2], c.units + c.deter, 3 * c.deter, True, activation="none"),
            prior=mlp(keys[3], c.deter, c.units, 1, latent),
            post=mlp(keys[4], c.deter + c.units, c.units, 1, latent),
            decoder=decoder,
            reward=mlp(keys[6], feat, c.units, c.layers, c.bins, out_scale=0.0),
            cont=mlp(keys[7], feat, c.units, c.layers, 1),
        )
        return RSSMParams(nets, self._optimizer().init(nets))

    def _optimizer(self) -> optax.GradientTransformation:
        c = self.config
        return optax.chain(optax.clip_by_global_norm(c.grad_clip), optax.adam(c.learning_rate))

    def initial_state(self) -> RSSMState:
        c = self.config
        return RSSMState(jnp.zeros(c.deter), jnp.zeros((c.stoch, c.classes)))

    def features(self, state: RSSMState) -> Float[Array, " F"]:
        """``[D + G K]`` what every head and a policy read: ``[h, z]``."""
        return jnp.concatenate([state.deter, state.stoch.reshape(-1)])

    # ---------------------------------------------------------------- the latent dynamics
    def _logits(self, net: tuple[Dense, ...], x: Array) -> Float[Array, "G K"]:
        c = self.config
        return unimix(apply_mlp(net, x).reshape(c.stoch, c.classes), c.unimix)

    def _recurrent(self, nets: RSSMNets, state: RSSMState, action: Array) -> Float[Array, " D"]:
        """DreamerV3's LayerNorm GRU: ``h' = u * tanh(r * c) + (1 - u) * h``, update bias -1."""
        x = nets.img_in(jnp.concatenate([state.stoch.reshape(-1), action]))
        parts = nets.gru(jnp.concatenate([x, state.deter]))  # linear, then LayerNorm
        reset, cand, update = jnp.split(parts, 3)
        cand = jnp.tanh(jax.nn.sigmoid(reset) * cand)
        update = jax.nn.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * state.deter

    def img_step(
        self, nets: RSSMNets, state: RSSMState, action: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[RSSMState, Float[Array, "G K"]]:
        """One imagined step from the prior: ``(next_state, prior_logits)``."""
        deter = self._recurrent(nets, state, action)
        logits = self._logits(nets.prior, deter)
        return RSSMState(deter, straight_through_sample(key, logits)), logits

    def encode(self, nets: RSSMNets, obs: Array) -> Float[Array, " U"]:
        """``[units]`` the embedding of an observation (a vector in symlog, a frame by the
        CNN)."""
        if self.is_image:
            return nets.encoder(obs)
        return apply_mlp(nets.encoder, symlog(obs))

    def _reconstruction(self, nets: RSSMNets, features: Array) -> Array:
        """The decoder's output: the obs in symlog space, or the frame in ``[-0.5, 0.5]``."""
        if self.is_image:
            return nets.decoder(features)
        return apply_mlp(nets.decoder, features)

    def _target(self, obs: Array) -> Array:
        """What :meth:`_reconstruction` should output for ``obs``."""
        if self.is_image:
            return obs.astype(jnp.float32) / 255.0 - 0.5
        return symlog(obs)

    def _obs_loss(self, nets: RSSMNets, features: Array, obs: Array) -> Float[Array, ""]:
        """Squared reconstruction error, summed over the observation's entries."""
        return jnp.sum((self._reconstruction(nets, features) - self._target(obs)) ** 2)

    def observe_step(
        self,
        nets: RSSMNets,
        state: RSSMState,
        action: Float[Array, " A"],
        obs: Array,
        key: PRNGKeyArray,
    ) -> tuple[RSSMState, Float[Array, "G K"], Float[Array, "G K"]]:
        """The step to a real observation: ``(posterior_state, post_logits, prior_logits)``.
        From :meth:`initial_state` with a zero action it enters the latent space from an
        episode's first observation."""
        return self._posterior_step(nets, state, action, self.encode(nets, obs), key)

    def _posterior_step(
        self,
        nets: RSSMNets,
        state: RSSMState,
        action: Float[Array, " A"],
        embed: Float[Array, " U"],
        key: PRNGKeyArray,
    ) -> tuple[RSSMState, Float[Array, "G K"], Float[Array, "G K"]]:
        """:meth:`observe_step` from the observation's embedding (:meth:`encode`)."""
        deter = self._recurrent(nets, state, action)
        prior = self._logits(nets.prior, deter)
        post = self._logits(nets.post, jnp.concatenate([deter, embed]))
        return RSSMState(deter, straight_through_sample(key, post)), post, prior

    def filter(
        self,
        nets: RSSMNets,
        state: RSSMState,
        prev_action: Float[Array, " A"],
        first: Bool[Array, ""],
        obs: Array,
        key: PRNGKeyArray,
    ) -> RSSMState:
        """The latent state after the real observation ``obs``: the posterior from ``state``
        and the action that led here, or, where ``first`` (an episode's first observation),
        from :meth:`initial_state` with a zero action. What an acting agent keeps."""
        start = self.initial_state()
        previous = jax.tree.map(lambda a, b: jnp.where(first, a, b), start, state)
        action = jnp.where(first, 0.0, prev_action)
        return self.observe_step(nets, previous, action, obs, key)[0]

    def first_state(self, nets: RSSMNets, obs: Array, key: PRNGKeyArray) -> RSSMState:
        """The latent state of an episode's first observation."""
        return self.observe_step(nets, self.initial_state(), jnp.zeros(self.action_dim), obs, key)[
            0
        ]

    def decode(self, nets: RSSMNets, state: RSSMState) -> Array:
        """The predicted observation: ``[d]`` (the decoder predicts it in symlog space), or a
        frame ``[S, S, 3]`` as floats in ``[0, 255]``."""
        out = self._reconstruction(nets, self.features(state))
        if self.is_image:
            return jnp.clip((out + 0.5) * 255.0, 0.0, 255.0)
        return symexp(out)

    def reward(self, nets: RSSMNets, state: RSSMState) -> Float[Array, ""]:
        """``[]`` the predicted reward of arriving in ``state``."""
        bins = twohot_bins(self.config.bins)
        return twohot_mean(apply_mlp(nets.reward, self.features(state)), bins)

    def continue_prob(self, nets: RSSMNets, state: RSSMState) -> Float[Array, ""]:
        """``[]`` the predicted probability that the episode goes on after ``state``."""
        return jax.nn.sigmoid(apply_mlp(nets.cont, self.features(state))[0])

    def step(
        self, nets: RSSMNets, state: RSSMState, action: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[RSSMState, Float[Array, ""], Bool[Array, ""]]:
        """The planners' transition function over the latent state: ``(next_state, reward,
        terminated)``, from the prior (close over ``nets`` to give it to a planner)."""
        next_state, _ = self.img_step(nets, state, action, key)
        terminated = self.continue_prob(nets, next_state) < 0.5
        return next_state, self.reward(nets, next_state), terminated

    # ---------------------------------------------------------------- learning
    def loss(
        self, nets: RSSMNets, seqs: Sequences, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], tuple[dict[str, Float[Array, ""]], RSSMState]]:
        """The world-model loss of a batch of sequences ``[B, L]``, with its parts (means over
        the batch's rows) and the posterior latent state of every row ``[B, L]`` (where
        imagination starts from, in Dreamer).

        Each row ``(obs, action, reward, next_obs, terminated)`` steps the latent state with
        its action and observes its ``next_obs``; the heads at the posterior state predict
        ``next_obs``, ``reward`` and ``1 - terminated``. Where a row starts an episode
        (``is_first``), the state is first reset to the posterior of its ``obs``, whose KL
        terms and (for vectors; frames are not decoded twice per row) reconstruction count
        too.
        """
        c = self.config
        bins = twohot_bins(c.bins)
        keys = jax.random.split(key, seqs.is_first.shape[0])
        embeds = self._embeddings(nets, seqs)
        parts, states = jax.vmap(lambda d, e, f, k: self._sequence_losses(nets, d, e, f, k, bins))(
            seqs.data, embeds, seqs.is_first, keys
        )
        metrics = {name: jnp.mean(value) for name, value in parts.items()}
        total = (
            metrics["obs_loss"]
            + metrics["reward_loss"]
            + metrics["cont_loss"]
            + c.dyn_scale * metrics["dyn_loss"]
            + c.rep_scale * metrics["rep_loss"]
        )
        return total, ({**metrics, "loss": total}, states)

    def _embeddings(self, nets: RSSMNets, seqs: Sequences) -> tuple[Array, Array]:
        """``([B, L, U], [B, L, U])``: the embeddings of the rows' ``obs``, read only where a
        row starts an episode (``is_first``; elsewhere the state carries on from the previous
        row's ``next_obs``), and of their ``next_obs``. So only the ``obs`` of the first
        :data:`FIRST_ROWS` rows per sequence that start an episode are encoded, ``L + 2``
        frames per sequence rather than ``2 L`` (the CNN's encoder is half its cost); a batch
        with a sequence of more such rows encodes every ``obs``."""
        encode = jax.vmap(jax.vmap(lambda o: self.encode(nets, o)))
        next_embeds = encode(seqs.data.next_obs)
        length = seqs.is_first.shape[1]
        if length <= FIRST_ROWS:
            return encode(seqs.data.obs), next_embeds

        def at_first_rows(obs: Array) -> Array:
            def rows(first: Array) -> tuple[Array, Array]:
                (at,) = jnp.nonzero(first, size=FIRST_ROWS, fill_value=0)
                return at, jnp.arange(FIRST_ROWS) < jnp.sum(first)

            at, valid = jax.vmap(rows)(seqs.is_first)  # [B, K]
            picked = jax.vmap(lambda o, i: o[i])(obs, at)  # [B, K, ...obs]
            onto = (at[:, None, :] == jnp.arange(length)[None, :, None]) & valid[:, None, :]
            return jnp.einsum("btk,bku->btu", onto.astype(jnp.float32), encode(picked))

        few = jnp.all(jnp.sum(seqs.is_first, axis=1) <= FIRST_ROWS)
        return jax.lax.cond(few, at_first_rows, encode, seqs.data.obs), next_embeds

    def _sequence_losses(self, nets, data, embeds, is_first, key, bins) -> dict[str, Array]:
        """The loss parts of one sequence ``[L]`` and its posterior states, from its rows'
        embeddings (:meth:`_embeddings`: the encoder runs on all rows at once outside the
        recurrence, as does the decoder)."""
        c = self.config
        zero_action = jnp.zeros(self.action_dim)

        def row(state, inputs):
            embed, next_embed, action, first, k = inputs
            k0, k1 = jax.random.split(k)
            start, post0, prior0 = self._posterior_step(
                nets, self.initial_state(), zero_action, embed, k0
            )
            state = jax.tree.map(lambda a, b: jnp.where(first, a, b), start, state)
            nxt, post, prior = self._posterior_step(nets, state, action, next_embed, k1)
            dyn, rep = kl_balance(post, prior, c.free_nats)
            dyn0, rep0 = kl_balance(post0, prior0, c.free_nats)
            kl = {
                "dyn_loss": dyn + jnp.where(first, dyn0, 0.0),
                "rep_loss": rep + jnp.where(first, rep0, 0.0),
            }
            return nxt, (kl, nxt, start)

        keys = jax.random.split(key, is_first.shape[0])
        inputs = (*embeds, data.action, is_first, keys)
        _, (out, states, starts) = jax.lax.scan(row, self.initial_state(), inputs)
        feat = jax.vmap(self.features)(states)
        obs_loss = jax.vmap(lambda f, o: self._obs_loss(nets, f, o))(feat, data.next_obs)
        if not self.is_image:
            # An episode's first observation is reconstructed too; for frames it is only
            # encoded (reconstructing it would run the CNN decoder twice per row).
            first_feat = jax.vmap(self.features)(starts)
            first_loss = jax.vmap(lambda f, o: self._obs_loss(nets, f, o))(first_feat, data.obs)
            obs_loss += jnp.where(is_first, first_loss, 0.0)
        reward_loss = jax.vmap(lambda f, r: twohot_loss(apply_mlp(nets.reward, f), r, bins))(
            feat, data.reward
        )
        cont = jax.vmap(lambda f: apply_mlp(nets.cont, f)[0])(feat)
        cont_loss = optax.sigmoid_binary_cross_entropy(
            cont, 1.0 - data.terminated.astype(cont.dtype)
        )
        out = {**out, "obs_loss": obs_loss, "reward_loss": reward_loss, "cont_loss": cont_loss}
        return out, states

    def update(
        self, params: RSSMParams, seqs: Sequences, key: PRNGKeyArray
    ) -> tuple[RSSMParams, dict[str, Float[Array, ""]]]:
        """One gradient step on a batch of sequences; jittable with ``self`` static."""
        params, metrics, _ = self.update_with_states(params, seqs, key)
        return params, metrics

    def update_with_states(
        self, params: RSSMParams, seqs: Sequences, key: PRNGKeyArray
    ) -> tuple[RSSMParams, dict[str, Float[Array, ""]], RSSMState]:
        """:meth:`update`, also returning the posterior states ``[B, L]`` it computed (before
        the step, gradients stopped)."""
        grad_fn = jax.value_and_grad(self.loss, has_aux=True)
        (_, (metrics, states)), grads = grad_fn(params.nets, seqs, key)
        updates, opt_state = self._optimizer().update(grads, params.opt_state, params.nets)
        nets = optax.apply_updates(params.nets, updates)
        return RSSMParams(nets, opt_state), metrics, jax.lax.stop_gradient(states)
