"""AlphaZero: MCTS guided by a policy-value network trained on search statistics."""

from mbrlax.agents.alphazero.agent import AlphaZero, AlphaZeroConfig, AlphaZeroState

__all__ = ["AlphaZero", "AlphaZeroConfig", "AlphaZeroState"]
