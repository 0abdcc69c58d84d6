"""TD-MPC2: MPPI in a learned latent space with a learned terminal value (Hansen et al. 2024)."""

from mbrlax.agents.base import AgentEntry, learns_every_step
from mbrlax.agents.tdmpc2.agent import (
    MODEL_SIZES,
    TDMPC2,
    TDMPC2_MPPI,
    ModelDims,
    TDMPC2Config,
    TDMPC2State,
    tdmpc2_discount,
)
from mbrlax.agents.tdmpc2.presets import tdmpc2_preset

ENTRY = AgentEntry(
    name="tdmpc2",
    label="TD-MPC2",
    config=TDMPC2Config,
    make=lambda config, c: TDMPC2(config, c.spec),
    preset=tdmpc2_preset,
    default_env="dmc/cartpole-swingup?action_repeat=2",
    title="Plan with MPPI in a learned latent space, valued by a learned Q-ensemble (TD-MPC2).",
    usage="mbrlax train tdmpc2 --env dmc/cartpole-swingup?action_repeat=2 [--agent.size 1]",
    env_help=(
        "an env with Box observations and actions (DeepMind Control: dmc/DOMAIN-TASK, "
        "Gymnasium, mbrlax/..., your own); the reward and terminations are learned."
    ),
    agent_help="the model size (1, 5, 19, 48, 317 M), the losses, MPPI and training.",
    runner_help="episodes or --total-steps, warm-up (seed steps), evaluation; TD-MPC2 learns "
    "after every env step (--refit-every 1).",
    saved=lambda state: (state.model, state.pi, state.qs),
    saved_help="the latent model, the policy prior and the Q-ensemble",
    check=learns_every_step("TD-MPC2", "", at_least=True),
)

__all__ = [
    "ENTRY",
    "MODEL_SIZES",
    "ModelDims",
    "TDMPC2",
    "TDMPC2_MPPI",
    "TDMPC2Config",
    "TDMPC2State",
    "tdmpc2_discount",
]
