"""Running mean and variance, merged chunk by chunk (Chan, Golub and LeVeque, 1979)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


class Normalizer(eqx.Module):
    """Per-entry running statistics of arrays of a fixed ``shape``.

    Before any update the statistics are mean 0 and variance 1, so ``normalize`` is the
    identity. ``std`` is floored at ``eps`` so a constant input maps to 0 instead of inf/nan.

    Attributes:
        mean: ``[*shape]`` running mean.
        var: ``[*shape]`` running population variance.
        count: ``[]`` int32, number of examples seen.
        eps: static floor of ``std``.
    """

    mean: Float[Array, "*shape"]
    var: Float[Array, "*shape"]
    count: Int[Array, ""]
    eps: float = eqx.field(static=True, default=1e-6)

    @classmethod
    def create(cls, shape: tuple[int, ...] | int, eps: float = 1e-6) -> Normalizer:
        """Identity statistics for examples of ``shape``."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return cls(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.zeros((), jnp.int32),
            eps=eps,
        )

    @property
    def std(self) -> Float[Array, "*shape"]:
        """``[*shape]`` standard deviation, at least ``eps``."""
        return jnp.maximum(jnp.sqrt(self.var), self.eps)

    def update(
        self, batch: Float[Array, " N *shape"], mask: Bool[Array, " N"] | None = None
    ) -> Normalizer:
        """Merge the statistics of ``batch [N, *shape]`` (only rows where ``mask [N]`` is True).

        The batch's own mean and centred sum of squares are computed in two passes and merged
        with the running ones by Chan et al.'s parallel formula, which stays accurate when the
        mean is large compared with the spread (a naive sum of squares would cancel).
        """
        batch = jnp.asarray(batch, jnp.float32)
        if batch.shape[1:] != self.mean.shape:
            raise ValueError(
                f"Normalizer of shape {list(self.mean.shape)} got a batch of shape "
                f"{list(batch.shape)}; expected [N, {', '.join(map(str, self.mean.shape))}]."
            )
        n = batch.shape[0]
        w = jnp.ones((n,), jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)
        w = w.reshape((n,) + (1,) * (batch.ndim - 1))
        n_b = jnp.sum(w)
        # Sum deviations from a reference near the data (the running mean, or the first kept
        # row) rather than raw values: float32 sums of large offsets would lose the spread.
        first = batch[jnp.argmax(w.reshape(n))]
        ref = jnp.where(self.count > 0, self.mean, first)
        mean_b = ref + jnp.sum(w * (batch - ref), axis=0) / jnp.maximum(n_b, 1.0)
        m2_b = jnp.sum(w * jnp.square(batch - mean_b), axis=0)

        n_a = self.count.astype(jnp.float32)
        total = n_a + n_b
        safe = jnp.maximum(total, 1.0)
        delta = mean_b - self.mean
        mean = self.mean + delta * (n_b / safe)
        m2 = self.var * n_a + m2_b + jnp.square(delta) * (n_a * n_b / safe)
        # Nothing kept in this batch: keep the old statistics bit for bit (and the identity
        # statistics, var 1, before any data).
        mean = jnp.where(n_b > 0, mean, self.mean)
        var = jnp.where(n_b > 0, m2 / safe, self.var)
        return Normalizer(
            mean=mean, var=var, count=self.count + n_b.astype(jnp.int32), eps=self.eps
        )

    def normalize(self, x: Float[Array, "*batch_shape"]) -> Float[Array, "*batch_shape"]:
        """``(x - mean) / std``; ``x`` has shape ``[..., *shape]``."""
        return (x - self.mean) / self.std

    def denormalize(self, x: Float[Array, "*batch_shape"]) -> Float[Array, "*batch_shape"]:
        """``x * std + mean``, the inverse of :meth:`normalize`."""
        return x * self.std + self.mean
