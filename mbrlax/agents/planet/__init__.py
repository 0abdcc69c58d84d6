"""PlaNet: CEM in the latent space of a recurrent state-space model (Hafner et al. 2019)."""

from mbrlax.agents.base import AgentEntry, check_sequence_warmup
from mbrlax.agents.planet.agent import PlaNet, PlaNetConfig, PlaNetState
from mbrlax.agents.planet.presets import planet_preset

ENTRY = AgentEntry(
    name="planet",
    label="PlaNet",
    config=PlaNetConfig,
    make=lambda config, c: PlaNet(config, c.spec),
    preset=planet_preset,
    default_env="dmc/cartpole-swingup?action_repeat=8",
    title="Plan with CEM in the latent space of a learned recurrent state-space model.",
    usage="mbrlax train planet --env dmc/cartpole-swingup?action_repeat=8   (an RSSM + CEM)",
    env_help=(
        "an env with Box actions, seen as vectors or frames (DeepMind Control: dmc/DOMAIN-TASK, "
        "Gymnasium, mbrlax/...; add ?pixels=64 to the id for 64 x 64 frames); the reward is "
        "learned."
    ),
    agent_help="the RSSM, the planner, and the model's training at each update.",
    runner_help="episodes, warm-up (at least one sequence), evaluation; the model is trained "
    "after every episode (or every --refit-every env steps).",
    saved=lambda state: state.model.nets,
    saved_help="the RSSM's networks",
    pixels=True,
    check=lambda config, runner: check_sequence_warmup("PlaNet", config.batch_length, runner),
)

__all__ = ["ENTRY", "PlaNet", "PlaNetConfig", "PlaNetState"]
