"""`Canvas`: a tiny anti-aliased rasteriser in JAX, so that the JAX envs draw their frames
without pygame or a display, and can draw them *inside* jit (pixel observations of a
JAX-native env run compiled: :class:`mbrlax.envs.pixels.PixelEnv`).

Shapes are drawn by coverage: a pixel whose centre lies within half a pixel of a shape's edge
is blended with the background in proportion, so a thin rod still shows at 16 x 16 pixels and
a moving shape changes the image smoothly (what a learned encoder likes). Pixels well inside a
shape take its colour exactly.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float, UInt8

FRAME_SIZE = 200
"""Side in pixels of the square frames the JAX envs render for videos."""


class Canvas:
    """A white ``size`` x ``size`` RGB image with world coordinates ``[-extent, extent]^2``
    (world ``y`` up, image rows down). Every method returns the canvas, so calls chain; the
    arguments may be traced JAX values (the canvas itself is rebuilt at every trace).
    """

    def __init__(self, extent: float, size: int = FRAME_SIZE):
        self.extent = extent
        self.size = int(size)
        self.pixel = 2.0 * extent / self.size  # world units per pixel
        centres = (jnp.arange(self.size) + 0.5) * self.pixel - extent
        # World coordinates of every pixel centre: x along columns, y up along rows.
        self._x, self._y = jnp.meshgrid(centres, centres[::-1])
        self._image = jnp.ones((self.size, self.size, 3), jnp.float32)

    def _paint(self, signed_distance: Float[Array, "H W"], color: tuple[int, int, int]) -> Canvas:
        """Blend ``color`` where ``signed_distance`` (world units, negative inside) is below
        half a pixel, by the pixel's approximate coverage."""
        cover = jnp.clip(0.5 - signed_distance / self.pixel, 0.0, 1.0)[..., None]
        rgb = jnp.asarray(color, jnp.float32) / 255.0
        self._image = self._image * (1.0 - cover) + rgb * cover
        return self

    def segment(self, p0, p1, width: float, color: tuple[int, int, int]) -> Canvas:
        """A thick line (a capsule) of ``width`` world units from ``p0`` to ``p1``."""
        x0, y0 = p0
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        denom = jnp.maximum(dx * dx + dy * dy, 1e-12)
        t = jnp.clip(((self._x - x0) * dx + (self._y - y0) * dy) / denom, 0.0, 1.0)
        dist = jnp.hypot(self._x - x0 - t * dx, self._y - y0 - t * dy)
        return self._paint(dist - width / 2, color)

    def disc(self, centre, radius: float, color: tuple[int, int, int]) -> Canvas:
        """A filled disc."""
        dist = jnp.hypot(self._x - centre[0], self._y - centre[1])
        return self._paint(dist - radius, color)

    def box(self, centre, half, color: tuple[int, int, int]) -> Canvas:
        """A filled axis-aligned rectangle of half-sizes ``half``."""
        outside = jnp.maximum(
            jnp.abs(self._x - centre[0]) - half[0], jnp.abs(self._y - centre[1]) - half[1]
        )
        return self._paint(outside, color)

    @property
    def image(self) -> UInt8[Array, "H W 3"]:
        """The frame so far, ``uint8 [size, size, 3]`` (a JAX array; ``np.asarray`` it on
        the host)."""
        return jnp.round(self._image * 255.0).astype(jnp.uint8)
