"""Planners: "what should I do now?" for any transition function ``step``.

Each planner is a frozen config dataclass whose ``build_for(spec, terminal_value=None)``
(any planner, any action space) or ``build(action_low, action_high, terminal_value=None)``
(Box actions; MCTS takes ``num_actions``) returns a :class:`Planner` ``(init, plan)`` pair::

    planner = CEM(horizon=15).build_for(env.spec)
    pstate = planner.init()
    plan = jax.jit(planner.plan, static_argnames="step")
    action, pstate, info = plan(pstate, step=step, state=state, key=key)
"""

from mbrlax.planners._rollout import (
    SequencePlanner,
    differentiable_return,
    sequence_return,
    sequence_returns,
    sequence_states,
    shift_plan,
)
from mbrlax.planners.base import (
    GaussianState,
    Planner,
    PlannerConfig,
    PlannerState,
    SequenceState,
    StepFn,
    TerminalValueFn,
)
from mbrlax.planners.cem import CEM
from mbrlax.planners.collocation import Collocation, CollocationResult, collocation_optimize
from mbrlax.planners.gradient_shooting import GradientShooting
from mbrlax.planners.icem import ICEM, ICEMState, colored_noise
from mbrlax.planners.ilqr import DDP, ILQR, ilqr_optimize
from mbrlax.planners.lqr import LQR, finite_horizon_lqr
from mbrlax.planners.mcts import MCTS, MCTSState, rollout_value
from mbrlax.planners.mppi import (
    MPPI,
    MPPIIteration,
    ProposalFn,
    mppi_iteration,
    mppi_samples,
    path_integral_weights,
)
from mbrlax.planners.random_shooting import RandomShooting
from mbrlax.planners.sampled_mcts import SampledMCTS

SamplingPlanner = CEM | ICEM | MPPI | RandomShooting
"""The planners that need only returns of sampled sequences (no gradients): a learned model."""

KnownModelPlanner = (
    SamplingPlanner | GradientShooting | Collocation | ILQR | DDP | SampledMCTS | MCTS
)
"""Every planner that runs through a known, differentiable JAX model (MCTS: discrete actions)."""

__all__ = [
    "CEM",
    "Collocation",
    "CollocationResult",
    "DDP",
    "ICEM",
    "ICEMState",
    "ILQR",
    "KnownModelPlanner",
    "LQR",
    "MCTS",
    "MCTSState",
    "GaussianState",
    "GradientShooting",
    "MPPI",
    "MPPIIteration",
    "ProposalFn",
    "Planner",
    "PlannerConfig",
    "PlannerState",
    "RandomShooting",
    "SampledMCTS",
    "SamplingPlanner",
    "SequencePlanner",
    "SequenceState",
    "StepFn",
    "TerminalValueFn",
    "collocation_optimize",
    "colored_noise",
    "differentiable_return",
    "finite_horizon_lqr",
    "ilqr_optimize",
    "mppi_iteration",
    "mppi_samples",
    "path_integral_weights",
    "rollout_value",
    "sequence_return",
    "sequence_returns",
    "sequence_states",
    "shift_plan",
]
