"""Data: replay buffers and running normalisers."""

from mbrlax.data.buffer import ReplayBuffer, Transition, add_batch_step, add_step
from mbrlax.data.normalizer import Normalizer

__all__ = ["Normalizer", "ReplayBuffer", "Transition", "add_batch_step", "add_step"]
