"""The agent registry and the one generic experiment built from its entries: every agent is
known to the CLI and sweeps through its entry alone, and each experiment type behaves alike."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from mbrlax.agents.base import AgentEntry
from mbrlax.agents.registry import AGENTS, get_agent
from mbrlax.cli import algos, main, usage
from mbrlax.envs import make_env
from mbrlax.training.experiment import EXPERIMENTS, Experiment, PETSExperiment, load_experiment
from mbrlax.training.logger import to_jsonable
from mbrlax.training.loop import RunnerConfig


def test_the_cli_and_the_sweep_know_exactly_the_registrys_agents(capsys):
    assert algos() == tuple(AGENTS) == tuple(EXPERIMENTS)
    text = usage()
    last = text.split("\n\n")[-1].replace("\n", " ")
    for entry in AGENTS.values():
        assert entry.usage in text and entry.name in last
    main(["--help"])
    assert capsys.readouterr().out.strip() == text.strip()


def test_an_unknown_agent_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown agent 'petz'.*pets, mpc.*Did you mean 'pets'"):
        get_agent("petz")


@pytest.mark.parametrize("name", list(AGENTS))
def test_each_experiment_type_is_the_generic_one_with_the_agents_config(name):
    entry, cls = AGENTS[name], EXPERIMENTS[name]
    assert isinstance(entry, AgentEntry) and issubclass(cls, Experiment)
    assert cls.algo == name and cls.entry is entry
    names = [f.name for f in dataclasses.fields(cls)]
    assert ("runs" in names) == entry.compiled_runs
    assert ("model" in names) == bool(entry.known_model)
    exp = cls()
    assert exp.env == entry.default_env and exp.runner == entry.runner
    options = entry.config.__args__ if hasattr(entry.config, "__args__") else (entry.config,)
    assert isinstance(exp.agent, options)


@pytest.mark.parametrize("name", list(AGENTS))
def test_preset_takes_overrides_of_any_field_agent_and_runner_included(name):
    # PETS' hand-written preset once passed agent= twice and raised TypeError.
    cls = EXPERIMENTS[name]
    env = AGENTS[name].default_env
    preset = cls.preset(env)
    runner = RunnerConfig(episodes=2, warmup_steps=0)
    exp = cls.preset(env, seed=7, agent=preset.agent, runner=runner)
    assert (exp.seed, exp.agent, exp.runner, exp.env) == (7, preset.agent, runner, env)
    assert AGENTS[name].preset(env).agent == preset.agent


def test_a_run_records_and_reloads_its_generic_experiment(tmp_path):
    exp = PETSExperiment.preset("Pendulum-v1", seed=3, run_dir=tmp_path / "r")
    record = to_jsonable({"algo": "pets", "env": exp.env, "seed": 3, "experiment": exp})
    assert record["experiment"]["__type__"] == "PETSExperiment"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps(record))
    assert load_experiment(tmp_path / "r") == exp


@pytest.mark.parametrize(
    ("name", "env"), [("pets", "Pendulum-v1"), ("dyna-q", "FrozenLake-v1"), ("mpc", "Pendulum-v1")]
)
def test_the_final_model_goes_back_where_it_was_taken_from(name, env):
    cls = EXPERIMENTS[name]
    exp = cls.preset(env)
    gym_env = make_env(env)
    try:
        agent = exp.make_agent(gym_env.spec)
    finally:
        gym_env.close()
    state, other = agent.init(jax.random.key(0)), agent.init(jax.random.key(1))
    model = exp.final_model(other)
    if AGENTS[name].saved is None:
        assert model is None and exp.with_final_model(state, model) is state
        return
    loaded = exp.with_final_model(state, model)
    same = jax.tree.map(np.array_equal, exp.final_model(loaded), model)
    assert all(jax.tree.leaves(same))
    assert jax.tree.structure(loaded) == jax.tree.structure(state)


def test_the_agents_page_is_the_registrys():
    from pathlib import Path

    from mbrlax.agents.registry import agents_markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "agents.md"
    assert page.read_text() == agents_markdown(), (
        "docs/agents.md differs from the registry: run "
        "`python -m mbrlax.agents.registry > docs/agents.md`"
    )
