"""Tabular Dyna: Dyna-Q, Dyna-Q+ and prioritized sweeping (Sutton & Barto, chapter 8).

:mod:`.tabular` holds the algorithms as pure functions, :mod:`.book` the book's maze experiments
as compiled loops of them, :mod:`.agent` the runner's agent around them, :mod:`.presets` the
defaults per env. The
algorithms' names are re-exported here, where they lived before the folder existed
(``from mbrlax.agents import dyna; dyna.learn(...)``).
"""

from mbrlax.agents.base import AgentEntry, learns_every_step
from mbrlax.agents.dyna.agent import DynaAgent
from mbrlax.agents.dyna.book import (
    EpisodeStats,
    greedy_path_length,
    learning_curve,
    run_episode,
    run_episodes,
    run_steps,
    train_episodes,
    updates_until_optimal,
)
from mbrlax.agents.dyna.presets import DYNA_RUNNER, dyna_preset
from mbrlax.agents.dyna.tabular import (
    MODELS,
    Config,
    DynaQ,
    DynaQState,
    Model,
    PrioritizedSweeping,
    epsilon_greedy,
    expected_target,
    greedy_action,
    init,
    learn,
    learn_prioritized,
    plan,
    q_learning_update,
    queue,
    sample_outcome,
    sweep,
    update_model,
)

ENTRY = AgentEntry(
    name="dyna-q",
    label="Dyna",
    config=DynaQ | PrioritizedSweeping,
    make=lambda config, c: DynaAgent(config, c.spec),
    preset=dyna_preset,
    default_env="mbrlax/DynaMaze-v0",
    title=(
        "Tabular Dyna-Q, Dyna-Q+ or prioritized sweeping on an env with discrete observations "
        "and actions."
    ),
    usage="mbrlax train dyna-q --env FrozenLake-v1 [agent:prioritized-sweeping]   (tabular)",
    env_help=(
        "a Gymnasium id with Discrete observations (FrozenLake-v1, CliffWalking-v1, Taxi-v4) or "
        "a JAX-native maze (mbrlax/DynaMaze-v0, mbrlax/BlockingMaze-v0, mbrlax/ShortcutMaze-v0)."
    ),
    agent_help=(
        "the algorithm and its hyper-parameters (defaults come from the env's preset): "
        "agent:dyna-q (planning-steps 0 is Q-learning, kappa > 0 Dyna-Q+) or "
        "agent:prioritized-sweeping; --agent.model stochastic for a count-based model."
    ),
    runner_help="episodes and evaluation; Dyna learns after every env step (refit-every 1).",
    saved=lambda state: state,
    saved_help="the whole agent (Q table and tabular model)",
    runner=DYNA_RUNNER,
    compiled_runs=True,
    check=learns_every_step("Dyna", ""),
)

__all__ = [
    "DYNA_RUNNER",
    "ENTRY",
    "MODELS",
    "Config",
    "DynaAgent",
    "DynaQ",
    "DynaQState",
    "EpisodeStats",
    "Model",
    "PrioritizedSweeping",
    "epsilon_greedy",
    "expected_target",
    "greedy_action",
    "greedy_path_length",
    "init",
    "learn",
    "learn_prioritized",
    "learning_curve",
    "plan",
    "q_learning_update",
    "queue",
    "run_episode",
    "run_episodes",
    "run_steps",
    "sample_outcome",
    "sweep",
    "train_episodes",
    "update_model",
    "updates_until_optimal",
]
