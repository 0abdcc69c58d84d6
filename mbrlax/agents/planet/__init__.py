"""PlaNet: CEM in the latent space of a recurrent state-space model (Hafner et al. 2019)."""

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.planet.agent import PlaNet, PlaNetConfig, PlaNetState
from mbrlax.agents.planet.presets import planet_preset


def _check(config: PlaNetConfig, runner) -> None:
    if runner.warmup_steps < config.batch_length:
        raise ValueError(
            f"PlaNet trains on sequences of {config.batch_length} steps and the warm-up collects "
            f"{runner.warmup_steps}; raise --warmup-steps to at least {config.batch_length} "
            "or lower --agent.batch-length."
        )


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
        "an env with vector observations and Box actions (DeepMind Control: dmc/DOMAIN-TASK, "
        "Gymnasium, mbrlax/...); the reward is learned."
    ),
    agent_help="the RSSM, the planner, and the model's training at each update.",
    runner_help="episodes, warm-up (at least one sequence), evaluation; the model is trained "
    "after every episode (or every --refit-every env steps).",
    saved=lambda state: state.model.nets,
    saved_help="the RSSM's networks",
    check=_check,
)

__all__ = ["ENTRY", "PlaNet", "PlaNetConfig", "PlaNetState"]
