"""Dreamer: an actor-critic learned in the imagination of a recurrent state-space model
(DreamerV3, Hafner et al. 2023), from vectors or pixels."""

from mbrlax.agents.base import AgentEntry, check_sequence_warmup
from mbrlax.agents.dreamer.agent import Dreamer, DreamerConfig, DreamerState
from mbrlax.agents.dreamer.presets import dreamer_preset

ENTRY = AgentEntry(
    name="dreamer",
    label="Dreamer",
    config=DreamerConfig,
    make=lambda config, c: Dreamer(config, c.spec),
    preset=dreamer_preset,
    default_env="dmc/cartpole-swingup?action_repeat=2",
    title="Learn an actor and a critic in the imagination of a recurrent state-space model.",
    usage="mbrlax train dreamer --env dmc/cartpole-swingup?action_repeat=2   (DreamerV3)",
    env_help=(
        "an env with Box actions, seen as vectors or frames (DeepMind Control: dmc/DOMAIN-TASK, "
        "Gymnasium, mbrlax/...; add ?pixels=64 to the id for 64 x 64 frames); the reward is "
        "learned."
    ),
    agent_help="the RSSM, the actor and critic, imagination and training at each update.",
    runner_help="episodes or --total-steps, warm-up (at least one sequence), evaluation; "
    "train_steps of training every --refit-every env steps.",
    saved=lambda state: (state.model.nets, state.actor, state.critic),
    saved_help="the RSSM's networks, the actor and the critic",
    pixels=True,
    check=lambda config, runner: check_sequence_warmup("Dreamer", config.batch_length, runner),
)

__all__ = ["ENTRY", "Dreamer", "DreamerConfig", "DreamerState"]
