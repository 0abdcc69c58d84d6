"""`mbrlax.train` from Python: an env id or a user's env instance, overrides by name, the same
run directory as the CLI, resume and evaluation of an instance's run."""

import gymnasium
import numpy as np
import pytest
import user_envs  # noqa: F401  (registers user_envs:PointReach-v0)

import mbrlax
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.planners import CEM
from mbrlax.training.logger import RunDirError, read_config

RUN = dict(episodes=2, warmup_steps=50, progress=False)
TINY = dict(
    model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(16, 16), max_epochs=3),
    planner=CEM(horizon=4, population=16, num_elites=4, iterations=2),
    num_particles=2,
    **RUN,
)


def returns(result) -> list[tuple]:
    return [(r["env_steps"], r["train_return"], r["eval_return"]) for r in result.rows]


def test_an_env_instance_trains_exactly_as_its_id_does(tmp_path):
    quick = dict(planner=CEM(horizon=5, population=32, num_elites=4, iterations=2), **RUN)
    env_id = "user_envs:PointReachExact-v0"  # its reward registered: linear-mpc plans on it
    by_id = mbrlax.train("linear-mpc", env=env_id, run_dir=tmp_path / "id", **quick)
    instance = gymnasium.make(env_id)
    by_instance = mbrlax.train("linear-mpc", env=instance, run_dir=tmp_path / "i", **quick)
    assert returns(by_instance) == returns(by_id)
    assert len(by_id.rows) == 2 and by_id.rows[-1]["eval_return"] > -15  # doing nothing: -47
    record = read_config(tmp_path / "i")
    assert record["env_instance"] == "user_envs:PointReach"
    assert record["env"] == "PointReachExact-v0"
    assert (tmp_path / "i" / "final_model.eqx").exists()
    instance.close()  # the caller's env is left open for the caller


def test_an_instances_run_resumes_and_evaluates_with_the_instance_only(tmp_path):
    env = gymnasium.wrappers.TimeLimit(user_envs.PointReach(), 50)  # never registered
    result = mbrlax.train("pets", env=env, run_dir=tmp_path / "r", **TINY)
    assert read_config(tmp_path / "r")["env"] == "PointReach"
    for call in (mbrlax.resume, mbrlax.evaluate):
        with pytest.raises(RunDirError, match=r"env instance \(user_envs:PointReach\).*env=\.\.\."):
            call(tmp_path / "r")
    assert returns(mbrlax.resume(tmp_path / "r", env=env)) == returns(result)  # finished
    scores = mbrlax.evaluate(tmp_path / "r", episodes=2, env=env)
    assert len(scores) == 2 and all(np.isfinite(scores))


def test_overrides_are_checked_by_name():
    with pytest.raises(ValueError, match="unknown option 'num_particle' for pets.*'num_particles'"):
        mbrlax.train("pets", env="Pendulum-v1", num_particle=3)
    with pytest.raises(ValueError, match="unknown agent 'pest'.*Did you mean 'pets'"):
        mbrlax.train("pest", env="Pendulum-v1")
    with pytest.raises(Exception, match="env must be an env id or a gymnasium.Env"):
        mbrlax.train("pets", env=3)


def test_the_whole_agent_config_is_an_override_and_runs_is_refused(tmp_path):
    # The agent's name is positional-only, so `agent=` sets the agent's config (it raised
    # "got multiple values for argument 'agent'"); `runs` > 1 used to train one seed silently.
    from mbrlax.agents.dyna import PrioritizedSweeping

    config = PrioritizedSweeping(planning_steps=3)
    result = mbrlax.train(
        "dyna-q", env="FrozenLake-v1", agent=config, episodes=3, progress=False,
        run_dir=tmp_path / "ps",
    )  # fmt: skip
    agent = read_config(tmp_path / "ps")["experiment"]["agent"]
    assert (agent["__type__"], agent["planning_steps"]) == ("PrioritizedSweeping", 3)
    assert len(result.rows) == 3
    with pytest.raises(ValueError, match="runs=3 .*run_many"):
        mbrlax.train("dyna-q", env="mbrlax/DynaMaze-v0", runs=3, save=False)
