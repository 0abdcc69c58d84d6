"""Shared test helpers (imported by the tests as ``from conftest import ...``)."""


def tiny_pets_args(episodes: int) -> list[str]:
    """`mbrlax train pets` options for a run that takes seconds: a 2 x 16 x 16 ensemble,
    2 particles, CEM with 16 candidates over 4 steps (the planner subcommand comes last)."""
    return [
        *("--episodes", str(episodes), "--warmup-steps", "200", "--eval-episodes", "1"),
        "--no-progress",
        *("--agent.model.num-members", "2", "--agent.model.num-elites", "2"),
        *("--agent.model.hidden-sizes", "16", "16", "--agent.model.max-epochs", "3"),
        *("--agent.num-particles", "2", "agent.planner:cem", "--agent.planner.horizon", "4"),
        *("--agent.planner.population", "16", "--agent.planner.num-elites", "4"),
        *("--agent.planner.iterations", "2"),
    ]
