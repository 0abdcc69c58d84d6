"""The bad-input catalog (docs/bad_inputs.md): every row is one case here, and each case
asserts what the user gets. ``test_docs_list_every_case`` keeps the table and the cases equal.
"""

import functools
import json
import re
import shutil
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces

from mbrlax.agents.dyna import DynaQ
from mbrlax.agents.dyna.agent import DynaAgent
from mbrlax.agents.mpc import KnownModelMPC, MPCConfig
from mbrlax.agents.pets import PETS, PETSConfig
from mbrlax.cli import main
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import EnvError, TaskFunctions, list_jax_envs, make_env, make_jax_env
from mbrlax.envs.base import JaxEnv
from mbrlax.envs.point_mass import PointMass
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.models.propagation import particle_dynamics
from mbrlax.planners import CEM, LQR, MPPI, GradientShooting, RandomShooting
from mbrlax.training.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from mbrlax.training.experiment import PETSExperiment, evaluate, resume, run
from mbrlax.training.logger import RunDirError, read_config, read_metrics
from mbrlax.training.loop import RunnerConfig, TrainingError, buffer_capacity, train

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


def cli_error(capsys, argv, code=2):
    """Run the CLI, expect exit ``code``; returns what it said, on one line (tyro's boxes and
    line wrapping taken out, so a phrase can be looked for whole)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == code
    out = capsys.readouterr()
    return " ".join(re.sub("[│╭╮╰╯─]", " ", out.out + out.err).split())


def files(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder`` with its bytes (None for a folder), to compare before and
    after a bad input."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


BOX2 = spaces.Box(-1.0, 1.0, (2,), np.float32)


class SpacesEnv(gymnasium.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space


class NaNEnv(gymnasium.Env):
    """Episodes of 50 steps; a NaN in the observation (or an infinite reward) at the ``at``-th
    step since the env was made, counted across episodes."""

    observation_space = BOX2
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, at, in_reward=False):
        self.at, self.in_reward, self.steps = at, in_reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        self.steps += 1
        obs, reward = np.full(2, 0.1 * self.t, np.float32), 1.0
        if self.steps == self.at:
            if self.in_reward:
                reward = float("inf")
            else:
                obs[1] = np.nan
        return obs, reward, False, self.t >= 50, {}


class ConstantAgent:
    """Pushes +1; its state counts its updates, which report a loss of 0.5, or NaN from the
    update numbered ``nan_from`` (0: the first) on."""

    def __init__(self, nan_from=None):
        self.nan_from = nan_from

    def init(self, key):
        return jnp.zeros(())

    def begin_episode(self, state):
        return state

    def act(self, state, obs, key):
        return jnp.ones(1), state, {}

    def update(self, state, buffer, key):
        bad = self.nan_from is not None and state >= self.nan_from
        return state + 1, {"train_loss": jnp.where(bad, jnp.nan, 0.5)}


def train_into(run_dir, agent, env, cfg):
    """``train`` with a run directory; ``config.json`` records what the plots need."""
    record = {"algo": type(agent).__name__, "env": env.spec.env_id, "seed": 0}
    return train(agent, env, None, cfg, seed=0, run_dir=run_dir, run_config=record)


def checkpoint_templates(spec, cfg):
    """What the runner's checkpoints hold for a ConstantAgent run of ``cfg`` on ``spec``."""
    obs, action = np.zeros(spec.obs_shape, spec.obs_dtype), np.zeros(spec.action_shape, np.float32)
    example = Transition(obs, action, np.float32(0), obs, np.bool_(False))
    buffer = ReplayBuffer.create(example, buffer_capacity(cfg, spec))
    return {"agent": jnp.zeros(()), "buffer": buffer, "key": jax.random.key(0)}


def assert_run_holds_only(run_dir, spec, cfg, steps):
    """``run_dir`` has the checkpoints and metrics rows taken at ``steps`` and no others; each
    checkpoint loads, and every array in it (the replay buffer's included) is finite."""
    paths = CheckpointManager(run_dir).paths()
    assert [p.name for p in paths] == [f"ckpt-{step:010d}.npz" for step in steps]
    for path, step in zip(paths, steps, strict=True):
        trees, meta = load_checkpoint(path, checkpoint_templates(spec, cfg))
        assert meta["step"] == step and int(trees["buffer"].size) == step
        for leaf in jax.tree.leaves((trees["agent"], trees["buffer"])):
            assert np.isfinite(np.asarray(leaf, np.float64)).all(), path.name
    assert [row["env_steps"] for row in read_metrics(run_dir)] == list(steps)


def tiny_experiment(run_dir, episodes=2, **runner):
    return PETSExperiment(
        env="mbrlax/Pendulum-v0",
        seed=0,
        run_dir=run_dir,
        agent=PETSConfig(
            model=EnsembleConfig(num_members=2, num_elites=2, hidden_sizes=(8,), max_epochs=2),
            planner=CEM(horizon=3, population=8, num_elites=2, iterations=1),
            num_particles=2,
        ),
        runner=RunnerConfig(
            episodes=episodes, warmup_steps=200, progress=False, checkpoint_every=100, **runner
        ),
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tiny finished run, copied by the cases that damage it."""
    run_dir = tmp_path_factory.mktemp("catalog") / "run"
    run(tiny_experiment(run_dir))
    return run_dir


# ---------------------------------------------------------------- envs


@case("unknown-env-id")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match="Unknown env id 'HalfCheeta-v5'. Did you mean: HalfCheetah-v5"
        r".*listed by gymnasium.pprint_registry\(\).*mbrlax.envs.list_jax_envs\(\)",
    ):
        make_env("HalfCheeta-v5")


@case("unknown-dmc-task")
def _(tmp_path, capsys, finished_run):
    pytest.importorskip("dm_control")
    with pytest.raises(
        EnvError,
        match=r"Unknown DeepMind Control task 'dmc/cartpole-swingupp'\. Did you mean: "
        r"dmc/cartpole-swingup.*list_dmc_tasks\(\)",
    ):
        make_env("dmc/cartpole-swingupp")


@case("bad-dmc-option")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError, match=r"unknown option 'repeat'; the options are action_repeat.*action_repeat=2"
    ):
        make_env("dmc/cartpole-swingup?repeat=2")


@case("planet-warmup-shorter-than-a-sequence")
def _(tmp_path, capsys, finished_run):
    run_dir = tmp_path / "planet"
    with pytest.raises(SystemExit) as e:
        main(["train", "planet", "--env", "mbrlax/Pendulum-v0", "--warmup-steps", "10",
              "--run-dir", str(run_dir)])  # fmt: skip
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "raise --warmup-steps to at least 32 or lower --agent.batch-length" in err
    assert not run_dir.exists()


@case("unknown-jax-env-id")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="Did you mean 'mbrlax/CartpoleSwingup-v0'") as e:
        make_jax_env("mbrlax/CartpoleSwingUp-v0")
    assert "Available: " + ", ".join(list_jax_envs()) in str(e.value)


@case("dict-observation-space")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match="Dict observation spaces are not supported; wrap the env "
        "with gymnasium.wrappers.FlattenObservation to get one flat Box",
    ):
        make_env(SpacesEnv(spaces.Dict({"a": BOX2}), BOX2))


@case("tuple-observation-space")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match="Tuple observation spaces are not supported; wrap the env "
        "with gymnasium.wrappers.FlattenObservation",
    ):
        make_env(SpacesEnv(spaces.Tuple((BOX2, BOX2)), BOX2))


@case("image-observations")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match=r"neither a vector of floats nor RGB frames.*\?pixels=64"):
        make_env(SpacesEnv(spaces.Box(0, 255, (64, 64), np.uint8), BOX2))


@case("bad-pixels-option")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match=r"pixels=4 is not a frame side mbrlax renders; use 8..512"):
        make_env("mbrlax/Pendulum-v0?pixels=4")


@case("pixels-for-a-vector-agent")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(SystemExit) as e:
        main(["train", "sac", "--env", "mbrlax/Pendulum-v0?pixels=16", "--run-dir",
              str(tmp_path / "sac")])  # fmt: skip
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "SAC needs vector observations" in err and "mbrlax train dreamer" in err
    assert not (tmp_path / "sac").exists()


@case("infinite-action-bounds")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match=r"infinite bounds.*need finite bounds. Give the space "
        r"finite bounds, or wrap with gymnasium.wrappers.ClipAction / "
        r"gymnasium.wrappers.RescaleAction",
    ):
        make_env(SpacesEnv(BOX2, spaces.Box(-np.inf, np.inf, (2,), np.float32)))


@case("multidiscrete-actions")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match="MultiDiscrete action spaces are not supported.*Flatten "
        "the choices into one Discrete space",
    ):
        make_env(SpacesEnv(BOX2, spaces.MultiDiscrete([2, 3])))


@case("env-instance-with-kwargs")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        EnvError,
        match=r"keyword arguments \['render_mode'\] with an env "
        "instance; pass them when you construct the env",
    ):
        make_env(SpacesEnv(BOX2, BOX2), render_mode="rgb_array")


@case("discrete-actions-for-pets")
def _(tmp_path, capsys, finished_run):
    env = make_env(SpacesEnv(BOX2, spaces.Discrete(3)))
    with pytest.raises(
        ValueError, match="PETS plans continuous actions.*use an env with Box actions"
    ):
        PETS(PETSConfig(), env.spec)


@case("reward-fn-wrong-shape")
def _(tmp_path, capsys, finished_run):
    spec = make_env("Pendulum-v1").spec
    task = TaskFunctions(lambda o, a, n: n * 2.0, lambda o, a, n: jnp.array(False), True)
    with pytest.raises(
        EnvError,
        match=r"returns shape \(3,\) for one transition.*must return a "
        r"scalar \[\].*end it with jnp.sum\(...\) or index the right element",
    ):
        PETS(PETSConfig(), spec, task)


@case("termination-fn-fails")
def _(tmp_path, capsys, finished_run):
    spec = make_env("Pendulum-v1").spec
    task = TaskFunctions(None, lambda o, a: jnp.array(False), False)  # forgot next_obs
    with pytest.raises(
        EnvError,
        match=r"termination function of Pendulum-v1 fails on one "
        r"transition \(obs \[3\], action \[1\], next_obs \[3\]\).*takes 2 "
        r"positional arguments but 3 were given. It must be a pure JAX function",
    ):
        PETS(PETSConfig(), spec, task)


def _bad_step_in_episode_3(tmp_path, in_reward):
    """Train with a checkpoint after every 50-step episode until the env goes bad at the last
    step of episode 3, where the next checkpoint would be taken; the error and the run."""
    env = make_env(NaNEnv(at=150, in_reward=in_reward))
    cfg = RunnerConfig(
        episodes=4, warmup_steps=10, eval_episodes=0, checkpoint_every=50, progress=False
    )
    with pytest.raises(EnvError) as e:
        train_into(tmp_path / "r", ConstantAgent(), env, cfg)
    return str(e.value), env.spec, cfg


@case("nan-observation-from-env")
def _(tmp_path, capsys, finished_run):
    said, spec, cfg = _bad_step_in_episode_3(tmp_path, in_reward=False)
    assert "NaNEnv returned a non-finite observation at env step 150 (training episode 3)" in said
    assert "stopped before storing it" in said and "Fix the env" in said
    # The checkpoints after episodes 1 and 2 are there and finite; none after the NaN.
    assert_run_holds_only(tmp_path / "r", spec, cfg, [50, 100])


@case("inf-reward-from-env")
def _(tmp_path, capsys, finished_run):
    said, spec, cfg = _bad_step_in_episode_3(tmp_path, in_reward=True)
    assert "NaNEnv returned a non-finite reward at env step 150 (training episode 3)" in said
    assert "reward=inf" in said and "Fix the env" in said
    assert_run_holds_only(tmp_path / "r", spec, cfg, [50, 100])


# ---------------------------------------------------------------- configs and sizes


@case("zero-episodes")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="episodes must be >= 1, got 0"):
        RunnerConfig(episodes=0)


@case("negative-warmup")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="warmup_steps must be >= 0, got -5"):
        RunnerConfig(warmup_steps=-5)


@case("negative-checkpoint-interval")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        ValueError, match=r"checkpoint_every must be >= 0 env steps \(0: only at the end\), got -1"
    ):
        RunnerConfig(checkpoint_every=-1)


@case("zero-kept-checkpoints")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="keep_checkpoints must be >= 1, got 0"):
        RunnerConfig(keep_checkpoints=0)


@case("zero-ensemble-members")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="num_members must be >= 1, got 0"):
        EnsembleConfig(num_members=0)


@case("more-elites-than-members")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="num_elites must be between 1 and num_members=3, got 5"):
        EnsembleConfig(num_members=3, num_elites=5)


@case("zero-hidden-units")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match=r"hidden_sizes must be positive, got \(200, 0\)"):
        EnsembleConfig(hidden_sizes=(200, 0))


@case("zero-horizon")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="CEM.horizon must be an int >= 1, got 0"):
        CEM(horizon=0)


@case("more-cem-elites-than-population")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match=r"CEM.num_elites \(50\) must be <= population \(10\)"):
        CEM(population=10, num_elites=50)


@case("discount-above-one")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match=r"RandomShooting.discount must be in \(0, 1\]"):
        RandomShooting(discount=1.5)


@case("zero-mppi-temperature")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        ValueError,
        match="MPPI.temperature must be > 0, got 0.0; for a near-greedy update use a "
        "small positive value",
    ):
        MPPI(temperature=0.0)


@case("inverted-action-bounds")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        ValueError, match=r"need action_low < action_high everywhere, got low=\[1.\], high=\[-1.\]"
    ):
        CEM().build(np.array([1.0]), np.array([-1.0]))


@case("zero-particles")
def _(tmp_path, capsys, finished_run):
    what = "num_particles must be >= 1, got 0"
    to_do = "Pass a positive count, e.g. --agent.num-particles 20"
    with pytest.raises(ValueError, match=what) as e:
        PETSConfig(num_particles=0)
    assert to_do in str(e.value)
    # On the command line, a usage error before any run directory is made.
    argv = ["train", "pets", "--agent.num-particles", "0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, argv)
    assert what in said and to_do in said
    assert not (tmp_path / "r").exists()
    # The particle propagation checks its own argument too.
    agent = PETS(PETSConfig(), make_env("Pendulum-v1").spec)
    params = agent.init(jax.random.key(0)).model_params
    with pytest.raises(ValueError, match=what):
        particle_dynamics(agent.model, params, mode="ts1", num_particles=0)


@case("warmup-longer-than-run")
def _(tmp_path, capsys, finished_run):
    # MBPO's default warm-up of 5000 random steps, in a run of 3000 steps.
    cfg = RunnerConfig(episodes=100, total_steps=3000, warmup_steps=5000, progress=False)
    with pytest.raises(ValueError) as e:
        train_into(tmp_path / "r", ConstantAgent(), make_env("Pendulum-v1"), cfg)
    said = str(e.value)
    assert "--warmup-steps 5000 covers the whole run" in said
    assert "reaches --total-steps 3000, within 3199 env steps" in said
    assert "the agent would never act" in said
    assert "Lower --warmup-steps below 3000, or raise --total-steps or --episodes" in said
    assert not (tmp_path / "r").exists()  # refused before anything was written


@case("unknown-propagation-mode")
def _(tmp_path, capsys, finished_run):
    agent = PETS(PETSConfig(), make_env("Pendulum-v1").spec)
    params = agent.init(jax.random.key(0)).model_params
    with pytest.raises(ValueError, match="unknown mode 'ts2'; use 'ts1', 'tsinf' or 'expectation'"):
        particle_dynamics(agent.model, params, mode="ts2", num_particles=4)


@case("buffer-item-wrong-shape")
def _(tmp_path, capsys, finished_run):
    example = Transition(np.zeros(3), np.zeros(1), np.float32(0), np.zeros(3), np.bool_(False))
    buffer = ReplayBuffer.create(example, 10)
    bad = Transition(np.zeros(4), np.zeros(1), np.float32(0), np.zeros(3), np.bool_(False))
    with pytest.raises(
        ValueError,
        match=r"leaf .obs has rows of shape \[3\] but the item's leaf has shape \[4\]"
        ".*reshape it before adding",
    ):
        buffer.add(bad)


@case("gradient-shooting-unknown-bounds-mode")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="bounds must be 'squash' or 'project', got 'clip'"):
        GradientShooting(bounds="clip")


@case("mpc-model-not-jax-native")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "MountainCarContinuous-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, argv)
    assert "MPC plans through a JAX-native env, and the env 'MountainCarContinuous-v0'" in said
    assert "choose --model from " + ", ".join(list_jax_envs()) in said
    assert "or learn a model with `mbrlax train pets`" in said
    assert not (tmp_path / "r").exists()  # refused before a run directory was made


@case("mcts-on-box-actions")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "mbrlax/Pendulum-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, [*argv, "agent.planner:mcts"])
    assert "MCTS searches over discrete actions but mbrlax/Pendulum-v0 has Box actions" in said
    assert "a trajectory optimiser such as agent.planner:cem" in said
    assert not (tmp_path / "r").exists()


@case("trajectory-planner-on-discrete-actions")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "mbrlax/CartPole-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, [*argv, "agent.planner:cem"])
    assert "CEM plans continuous actions but mbrlax/CartPole-v0 has a Discrete" in said
    assert "choose agent.planner:mcts" in said
    assert not (tmp_path / "r").exists()


@case("mpc-model-mismatched-spaces")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "Pendulum-v1", "--model", "mbrlax/CartpoleSwingup-v0"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert (
        "the model mbrlax/CartpoleSwingup-v0 (observations (5,), actions (1,)) does not match "
        "the env Pendulum-v1 (observations (3,), actions (1,)); choose a model whose observations "
        "and actions are the env's"
    ) in said
    assert not (tmp_path / "r").exists()


@case("mpc-model-without-state-from-obs")
def _(tmp_path, capsys, finished_run):
    class Hidden(PointMass):  # its observations are said not to determine its state
        def state_from_obs(self, obs):
            return JaxEnv.state_from_obs(self, obs)

    model = Hidden()
    with pytest.raises(
        NotImplementedError,
        match="cannot recover its state from an observation.*plan on its states with "
        r"mbrlax.agents.mpc.mpc_rollout instead, or learn a model \(PETS\)",
    ):
        KnownModelMPC(MPCConfig(), model.spec, model)


@case("discrete-observations-for-pets")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        ValueError, match="has discrete ones.*use `mbrlax train dyna-q`.*one-hot Box observations"
    ):
        PETS(PETSConfig(), make_env("FrozenLake-v1").spec)


@case("dyna-q-vector-observations")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "dyna-q", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r")]
    )
    assert "tabular Dyna needs discrete observations" in said
    assert "use an env with a Discrete observation space (FrozenLake-v1" in said
    assert "`mbrlax train pets`" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-continuous-actions")
def _(tmp_path, capsys, finished_run):
    env = make_env(SpacesEnv(spaces.Discrete(4), BOX2))
    with pytest.raises(
        ValueError, match="tabular Dyna needs discrete actions.*use an env with Discrete actions"
    ):
        DynaAgent(DynaQ(), env.spec)


@case("dyna-q-runs-on-gymnasium-env")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--env", "FrozenLake-v1", "--runs", "3"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert "needs a JAX-native env" in said
    assert "run its seeds one by one (`mbrlax sweep --envs FrozenLake-v1" in said
    assert "or use a maze" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-runs-with-evaluation")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--runs", "3", "--eval-episodes", "2"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert "cover training episodes only" in said
    assert "use --eval-episodes 0 (got eval_episodes=2), or run the seeds one by one" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-refit-every")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "dyna-q", "--refit-every", "0", "--run-dir", str(tmp_path / "r")]
    )
    assert "Dyna learns after every env step: use --refit-every 1 (got 0)" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-unknown-model")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--run-dir", str(tmp_path / "r"), "agent:dyna-q"]
    said = cli_error(capsys, [*argv, "--agent.model", "stochatic"])
    assert "invalid choice 'stochatic' for argument '--agent.model'" in said
    assert "('deterministic', 'stochastic')" in said
    assert not (tmp_path / "r").exists()


@case("sac-discrete-actions")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "sac", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")]
    )
    assert "SAC learns a Gaussian policy over Box actions but CartPole-v1 has a Discrete" in said
    assert "use an env with Box actions" in said
    assert not (tmp_path / "r").exists()


@case("sac-refit-every")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "sac", "--refit-every", "0", "--run-dir", str(tmp_path / "r")]
    assert "SAC learns after every env step: use --refit-every 1 (got 0" in cli_error(capsys, argv)
    assert not (tmp_path / "r").exists()


@case("mbpo-refit-every")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mbpo", "--env", "Pendulum-v1", "--refit-every", "5"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert (
        "MBPO learns after every env step (its schedule counts them): use --refit-every 1" in said
    )
    assert not (tmp_path / "r").exists()


@case("mbpo-rollout-schedule")
def _(tmp_path, capsys, finished_run):
    from mbrlax.agents.mbpo import RolloutSchedule

    with pytest.raises(ValueError, match="1 <= min_length <= max_length, got 5 and 2"):
        RolloutSchedule(min_epoch=20, max_epoch=100, min_length=5, max_length=2)


@case("mbpo-real-ratio")
def _(tmp_path, capsys, finished_run):
    from mbrlax.agents.mbpo import MBPOConfig

    with pytest.raises(ValueError, match=r"real_ratio must be in \[0, 1\], got 1.5"):
        MBPOConfig(real_ratio=1.5)


@case("diagnose-run-without-model")
def _(tmp_path, capsys, finished_run):
    run_dir = tmp_path / "lake"  # a run of seconds: FrozenLake's episodes end in a few steps
    argv = ["train", "dyna-q", "--env", "FrozenLake-v1", "--episodes", "1", "--no-progress"]
    main([*argv, "--run-dir", str(run_dir)])
    capsys.readouterr()
    before = files(run_dir)
    said = cli_error(capsys, ["diagnose", str(run_dir)])
    assert "is a dyna-q run, which learns no dynamics model" in said
    assert "model diagnostics need a PETS, MBPO, PlaNet or Dreamer run" in said
    assert files(run_dir) == before  # nothing written


# Agents on envs they cannot act in: a usage error saying these phrases, before any run
# directory is made.
AGENT_REFUSALS = {
    "alphazero-on-box-actions": (
        "alphazero", "mbrlax/Pendulum-v0",
        ("AlphaZero searches over discrete actions", "plan them with `mbrlax train mpc`",
         "learn a policy with `mbrlax train sac`"),
    ),
    "alphazero-without-jax-model": (
        "alphazero", "Acrobot-v1",
        ("AlphaZero searches through a JAX-native env",
         "choose --model from " + ", ".join(list_jax_envs())),
    ),
    "muzero-on-box-actions": (
        "muzero", "Pendulum-v1",
        ("MuZero searches over discrete actions", "plan them with `mbrlax train mpc`",
         "learn a policy with `mbrlax train sac` or `mbpo`"),
    ),
    "muzero-discrete-observations": (
        "muzero", "FrozenLake-v1",
        ("MuZero's networks take vector observations", "use `mbrlax train dyna-q`",
         "one-hot Box observations"),
    ),
    "pilco-on-discrete-actions": (
        "pilco", "mbrlax/CartPole-v0",
        ("has Discrete actions", "use an env with Box observations and Box actions"),
    ),
    "pilco-without-known-reward": (
        "pilco", "HalfCheetah-v5",
        ("needs the reward of HalfCheetah-v5 as a function of (obs, action, next_obs)",
         "Register one with mbrlax.envs.register_task, or use PETS, which can learn the reward"),
    ),
}  # fmt: skip


def _refused(algo, env, phrases, tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", algo, "--env", env, "--run-dir", str(tmp_path / "r")])
    assert all(phrase in said for phrase in phrases), said
    assert not (tmp_path / "r").exists()


for _name, _args in AGENT_REFUSALS.items():
    case(_name)(functools.partial(_refused, *_args))


@case("draw-fan-without-mppi")
def _(tmp_path, capsys, finished_run):
    argv = [
        "draw",
        "--env",
        "mbrlax/Pendulum-v0",
        "--fan-at",
        "3",
        "--out",
        str(tmp_path / "p.png"),
    ]
    said = cli_error(capsys, [*argv, "agent.planner:cem"])
    assert "--fan-at draws MPPI's samples: add agent.planner:mppi" in said
    assert list(tmp_path.iterdir()) == []  # nothing drawn


@case("lqr-mismatched-matrices")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(
        ValueError, match=r"B must have shape \[S, A\] = \[4, A\] to match A, got \(3, 2\)"
    ):
        LQR.from_matrices(np.eye(4), np.ones((3, 2)), np.eye(4), np.eye(2), horizon=10)


@case("lqr-with-terminal-value")
def _(tmp_path, capsys, finished_run):
    lqr = LQR.from_matrices(*PointMass().linear_quadratic(), horizon=10)
    with pytest.raises(
        ValueError,
        match=r"cannot use a general terminal_value.*give a quadratic terminal cost "
        r"x_H\^T Qf x_H as LQR\(Qf=...\) instead",
    ):
        lqr.build(-np.ones(2), np.ones(2), terminal_value=lambda s: 0.0)


# ---------------------------------------------------------------- command line


@case("unknown-command")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["trian"])
    assert "mbrlax: error: unknown command 'trian'; valid: train, resume, eval" in said
    assert "Did you mean 'train'?" in said


@case("unknown-algorithm")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "petz"])
    assert "unknown algorithm 'petz'; valid: pets, mpc, dyna-q" in said
    assert "Did you mean 'pets'?" in said


@case("option-typo")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--episodez", "3"])
    assert "Unrecognized options: --episodez" in said and "--episodes INT" in said


@case("option-bad-value")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--seed", "zero"])
    assert "Error parsing --seed" in said and "'zero'" in said and "--seed INT" in said


@case("resume-with-other-options")
def _(tmp_path, capsys, finished_run):
    before = files(finished_run)
    said = cli_error(capsys, ["train", "pets", "--resume", str(finished_run), "--seed", "3"])
    assert "a run with the config it was started with; drop the other options (--seed 3)" in said
    assert files(finished_run) == before


@case("resume-flag-without-dir")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--resume"])
    assert "mbrlax: error: --resume needs a value: --resume DIR." in said


# ---------------------------------------------------------------- run directories


@case("run-dir-holds-another-run")
def _(tmp_path, capsys, finished_run):
    before = files(finished_run)
    said = cli_error(capsys, ["train", "pets", "--run-dir", str(finished_run)])
    assert "already holds a run; nothing was overwritten" in said
    assert f"Continue it with `mbrlax resume {finished_run}`, pass another --run-dir" in said
    assert "replace it with --overwrite" in said
    assert files(finished_run) == before


@case("overwrite-a-non-run-dir")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "mine" / "data").mkdir(parents=True)
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    (tmp_path / "mine" / "data" / "results.csv").write_text("1,2\n")
    before = files(tmp_path / "mine")
    said = cli_error(capsys, ["train", "pets", "--overwrite", "--run-dir", str(tmp_path / "mine")])
    assert "--overwrite refuses to empty" in said and "not an mbrlax run directory" in said
    assert "Choose another --run-dir" in said
    assert files(tmp_path / "mine") == before


@case("unwritable-run-dir")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(
        RunDirError, match="cannot write the run directory .*; pass a --run-dir you can write to"
    ):
        run(tiny_experiment(tmp_path / "a-file" / "run"))
    assert files(tmp_path) == {"a-file": b"x"}


@case("resume-a-dir-without-run")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["resume", str(tmp_path / "nothing")])
    assert "holds no run to resume (no config.json); start one with `mbrlax train`" in said
    assert not (tmp_path / "nothing").exists()


@case("eval-unfinished-run")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    (tmp_path / "r" / "final_model.eqx").unlink()
    before = files(tmp_path / "r")
    with pytest.raises(
        FileNotFoundError,
        match="final_model.eqx is missing: the run did not finish, so there is no final model",
    ):
        evaluate(tmp_path / "r", episodes=1)
    assert files(tmp_path / "r") == before


@case("corrupt-latest-checkpoint")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    first, changed, truncated = CheckpointManager(tmp_path / "r").paths()
    truncated.write_bytes(truncated.read_bytes()[:-50])
    with np.load(changed) as z:
        arrays = dict(z)
    name = next(k for k, v in arrays.items() if v.dtype.kind == "f")
    arrays[name] = arrays[name] + 1.0  # a readable file whose checksum does not match
    np.savez(changed, **arrays)
    damaged = {p.name: p.read_bytes() for p in (changed, truncated)}
    rows = resume(tmp_path / "r").rows
    log = (tmp_path / "r" / "run.log").read_text()
    assert f"skipping unusable checkpoint {truncated.name}" in log and "truncated" in log
    assert f"skipping unusable checkpoint {changed.name}" in log and "checksum mismatch" in log
    assert f"resuming from {first.name}" in log
    # The damaged files are kept aside, byte for byte, out of the resumed run's way.
    for name, data in damaged.items():
        assert (tmp_path / "r" / "checkpoints" / f"{name}.damaged").read_bytes() == data
    # Resumed from the good one, the run writes what it wrote the first time.
    columns = ("env_steps", "train_return", "eval_return")
    assert [[r[c] for c in columns] for r in rows] == [
        [r[c] for c in columns] for r in read_metrics(finished_run)
    ]


@case("all-checkpoints-corrupt")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    paths = CheckpointManager(tmp_path / "r").paths()
    for p in paths:
        p.write_bytes(b"not a checkpoint")
    before = files(tmp_path / "r")
    said = cli_error(capsys, ["resume", str(tmp_path / "r")])
    assert f"no usable checkpoint in {tmp_path / 'r' / 'checkpoints'}" in said
    assert ", ".join(p.name for p in reversed(paths)) in said  # each file named
    assert said.count("is not a readable checkpoint") == 1  # their one cause said once
    assert "The files are left as they are; start a new run, or restore a checkpoint" in said
    assert files(tmp_path / "r") == before


@case("checkpoint-of-another-config")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    cfg = read_config(tmp_path / "r")
    cfg["experiment"]["agent"]["model"]["hidden_sizes"] = [16]
    (tmp_path / "r" / "config.json").write_text(json.dumps(cfg))
    before = files(tmp_path / "r")
    with pytest.raises(
        CheckpointError,
        match=r"'agent'.*: checkpoint array is float32\[2, 4, 8\], the state expects "
        r"float32\[2, 4, 16\] \(a different config\?\)",
    ):
        resume(tmp_path / "r")
    assert files(tmp_path / "r") == before


@case("metrics-csv-damaged-before-resume")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    (tmp_path / "r" / "metrics.csv").write_text("env_steps,episode\n")
    before = files(tmp_path / "r")
    with pytest.raises(
        RunDirError,
        match="has 0 rows but the checkpoint says 2 were written: the file was edited "
        "or damaged. Restore it, or start a new run",
    ):
        resume(tmp_path / "r")
    after = files(tmp_path / "r")
    del after["run.log"]  # the resume attempt is noted there; nothing else is written
    before.pop("run.log", None)
    assert after == before


@case("model-loss-nan")
def _(tmp_path, capsys, finished_run):
    env = make_env("Pendulum-v1")
    cfg = RunnerConfig(
        episodes=3, warmup_steps=100, eval_episodes=0, checkpoint_every=200, progress=False
    )
    # The refit after episode 1 is good (and checkpointed), the one after episode 2 NaN.
    with pytest.raises(
        TrainingError,
        match=r"update at env step 400 gave train_loss=nan; the run stopped \(the "
        r"last good checkpoint, ckpt-0000000200.npz, is kept\). Start a new run with a smaller "
        "learning rate",
    ):
        train_into(tmp_path / "r", ConstantAgent(nan_from=1), env, cfg)
    assert_run_holds_only(tmp_path / "r", env.spec, cfg, [200])
    [path] = CheckpointManager(tmp_path / "r").paths()
    assert load_checkpoint(path, checkpoint_templates(env.spec, cfg))[0]["agent"] == 1


@case("plot-path-without-runs")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "empty").mkdir()
    said = cli_error(capsys, ["plot", str(tmp_path / "empty")])
    assert "holds no runs" in said and "Pass directories written by `mbrlax train`" in said
    assert files(tmp_path / "empty") == {}  # no plot written


@case("malformed-threshold")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["compare", str(finished_run), "--threshold", "Pendulum=abc"])
    assert "threshold 'Pendulum=abc': 'abc' is not a finite number" in said
    assert "write VALUE or ENV=VALUE, e.g. --threshold Pendulum-v1=-200" in said


@case("corrupt-buffer-file")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(
        ValueError, match="is not a readable replay buffer .*Restore it from an earlier checkpoint"
    ):
        ReplayBuffer.load(tmp_path / "b.npz")
    assert files(tmp_path) == {"b.npz": b"PK\x03\x04 broken"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, capsys, finished_run):
    CASES[name](tmp_path, capsys, finished_run)


def test_docs_list_every_case():
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", DOCS.read_text(), flags=re.M)
    assert sorted(ids) == sorted(CASES)
    assert len(CASES) >= 30
