"""The bad-input catalog (docs/bad_inputs.md): every row is one case here, and each case
asserts what the user gets. ``test_docs_list_every_case`` keeps the table and the cases equal.
"""

import functools
import re
import shutil
from pathlib import Path

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces

from mbrlax.agents.dyna import DynaQ
from mbrlax.agents.dyna_agent import DynaAgent
from mbrlax.agents.mpc import KnownModelMPC, MPCConfig
from mbrlax.agents.pets import PETS, PETSConfig
from mbrlax.checkpoint import CheckpointError, CheckpointManager
from mbrlax.cli import main
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import EnvError, TaskFunctions, make_env, make_jax_env
from mbrlax.envs.base import JaxEnv
from mbrlax.envs.point_mass import PointMass
from mbrlax.experiment import PETSExperiment, evaluate, resume, run
from mbrlax.logger import RunDirError
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.models.propagation import particle_dynamics
from mbrlax.planners import CEM, LQR, MPPI, GradientShooting, RandomShooting
from mbrlax.runner import RunnerConfig, TrainingError, train

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


def cli_error(capsys, argv, code=2):
    """Run the CLI, expect exit ``code``; returns what it said."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == code
    out = capsys.readouterr()
    return out.out + out.err


BOX2 = spaces.Box(-1.0, 1.0, (2,), np.float32)


class SpacesEnv(gymnasium.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space


class NaNEnv(gymnasium.Env):
    """Returns NaN in the observation (or reward) at step ``at``."""

    observation_space = BOX2
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, at=5, in_reward=False):
        self.at, self.in_reward = at, in_reward

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs, reward = np.full(2, 0.1 * self.t, np.float32), 1.0
        if self.t == self.at:
            if self.in_reward:
                reward = float("inf")
            else:
                obs[1] = np.nan
        return obs, reward, False, self.t >= 50, {}


class ConstantAgent:
    """Pushes +1; its update reports the given loss."""

    def __init__(self, loss=0.5):
        self.loss = loss

    def init(self, key):
        return jnp.zeros(())

    def begin_episode(self, state):
        return state

    def act(self, state, obs, key):
        return jnp.ones(1), state, {}

    def update(self, state, buffer, key):
        return state + 1, {"train_loss": jnp.float32(self.loss)}


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
    with pytest.raises(EnvError, match="Did you mean.*HalfCheetah-v5"):
        make_env("HalfCheeta-v5")


@case("unknown-jax-env-id")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="mbrlax/CartpoleSwingup-v0"):
        make_jax_env("mbrlax/CartpoleSwingUp-v0")


@case("dict-observation-space")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="Dict observation spaces are not supported"):
        make_env(SpacesEnv(spaces.Dict({"a": BOX2}), BOX2))


@case("tuple-observation-space")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="FlattenObservation"):
        make_env(SpacesEnv(spaces.Tuple((BOX2, BOX2)), BOX2))


@case("image-observations")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="pixel observations are not supported"):
        make_env(SpacesEnv(spaces.Box(0, 255, (64, 64, 3), np.uint8), BOX2))


@case("infinite-action-bounds")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="infinite bounds.*RescaleAction"):
        make_env(SpacesEnv(BOX2, spaces.Box(-np.inf, np.inf, (2,), np.float32)))


@case("multidiscrete-actions")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="MultiDiscrete action spaces are not supported"):
        make_env(SpacesEnv(BOX2, spaces.MultiDiscrete([2, 3])))


@case("env-instance-with-kwargs")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(EnvError, match="pass them when you construct the env"):
        make_env(SpacesEnv(BOX2, BOX2), render_mode="rgb_array")


@case("discrete-actions-for-pets")
def _(tmp_path, capsys, finished_run):
    env = make_env(SpacesEnv(BOX2, spaces.Discrete(3)))
    with pytest.raises(ValueError, match="PETS plans continuous actions"):
        PETS(PETSConfig(), env.spec)


@case("reward-fn-wrong-shape")
def _(tmp_path, capsys, finished_run):
    spec = make_env("Pendulum-v1").spec
    task = TaskFunctions(lambda o, a, n: n * 2.0, lambda o, a, n: jnp.array(False), True)
    with pytest.raises(EnvError, match=r"returns shape \(3,\).*must return a scalar"):
        PETS(PETSConfig(), spec, task)


@case("termination-fn-fails")
def _(tmp_path, capsys, finished_run):
    spec = make_env("Pendulum-v1").spec
    task = TaskFunctions(None, lambda o, a: jnp.array(False), False)  # forgot next_obs
    with pytest.raises(EnvError, match="termination function of Pendulum-v1 fails"):
        PETS(PETSConfig(), spec, task)


@case("nan-observation-from-env")
def _(tmp_path, capsys, finished_run):
    env = make_env(NaNEnv(at=5))
    cfg = RunnerConfig(episodes=1, warmup_steps=10, eval_episodes=0, progress=False)
    with pytest.raises(EnvError, match=r"non-finite observation at env step 5"):
        train(ConstantAgent(), env, None, cfg, seed=0, run_dir=tmp_path / "r")
    # Nothing non-finite reached the run directory.
    assert not (tmp_path / "r" / "checkpoints").exists()


@case("inf-reward-from-env")
def _(tmp_path, capsys, finished_run):
    env = make_env(NaNEnv(at=3, in_reward=True))
    cfg = RunnerConfig(episodes=1, warmup_steps=10, eval_episodes=0, progress=False)
    with pytest.raises(EnvError, match="non-finite reward at env step 3"):
        train(ConstantAgent(), env, None, cfg, seed=0)


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
    with pytest.raises(ValueError, match="checkpoint_every must be >= 0"):
        RunnerConfig(checkpoint_every=-1)


@case("zero-kept-checkpoints")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="keep_checkpoints must be >= 1"):
        RunnerConfig(keep_checkpoints=0)


@case("zero-ensemble-members")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="num_members must be >= 1"):
        EnsembleConfig(num_members=0)


@case("more-elites-than-members")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="num_elites must be between 1 and num_members=3"):
        EnsembleConfig(num_members=3, num_elites=5)


@case("zero-hidden-units")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="hidden_sizes must be positive"):
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
    with pytest.raises(ValueError, match="MPPI.temperature must be > 0"):
        MPPI(temperature=0.0)


@case("inverted-action-bounds")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="need action_low < action_high"):
        CEM().build(np.array([1.0]), np.array([-1.0]))


@case("zero-particles")
def _(tmp_path, capsys, finished_run):
    agent = PETS(PETSConfig(num_particles=0), make_env("Pendulum-v1").spec)
    state = agent.init(__import__("jax").random.key(0))
    with pytest.raises(ValueError, match="num_particles must be >= 1"):
        particle_dynamics(agent.model, state.model_params, mode="ts1", num_particles=0)


@case("unknown-propagation-mode")
def _(tmp_path, capsys, finished_run):
    agent = PETS(PETSConfig(), make_env("Pendulum-v1").spec)
    params = agent.init(__import__("jax").random.key(0)).model_params
    with pytest.raises(ValueError, match="unknown mode 'ts2'"):
        particle_dynamics(agent.model, params, mode="ts2", num_particles=4)


@case("buffer-item-wrong-shape")
def _(tmp_path, capsys, finished_run):
    example = Transition(np.zeros(3), np.zeros(1), np.float32(0), np.zeros(3), np.bool_(False))
    buffer = ReplayBuffer.create(example, 10)
    bad = Transition(np.zeros(4), np.zeros(1), np.float32(0), np.zeros(3), np.bool_(False))
    with pytest.raises(ValueError, match="shape"):
        buffer.add(bad)


@case("gradient-shooting-unknown-bounds-mode")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="bounds must be 'squash' or 'project', got 'clip'"):
        GradientShooting(bounds="clip")


@case("mpc-model-not-jax-native")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "MountainCarContinuous-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, argv)
    assert "not one; choose --model from" in said and "mbrlax/Pendulum-v0" in said
    assert not (tmp_path / "r").exists()  # refused before a run directory was made


@case("mcts-on-box-actions")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "mbrlax/Pendulum-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, [*argv, "agent.planner:mcts"])
    assert "MCTS searches over discrete actions" in said and "agent.planner:cem" in said
    assert not (tmp_path / "r").exists()


@case("trajectory-planner-on-discrete-actions")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "mbrlax/CartPole-v0", "--run-dir", str(tmp_path / "r")]
    said = cli_error(capsys, [*argv, "agent.planner:cem"])
    assert "CEM plans continuous actions" in said and "agent.planner:mcts" in said
    assert not (tmp_path / "r").exists()


@case("mpc-model-mismatched-spaces")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mpc", "--env", "Pendulum-v1", "--model", "mbrlax/CartpoleSwingup-v0"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert "does not match the env Pendulum-v1 (observations (3,)" in said
    assert not (tmp_path / "r").exists()


@case("mpc-model-without-state-from-obs")
def _(tmp_path, capsys, finished_run):
    class Hidden(PointMass):  # its observations are said not to determine its state
        def state_from_obs(self, obs):
            return JaxEnv.state_from_obs(self, obs)

    model = Hidden()
    with pytest.raises(NotImplementedError, match="cannot recover its state from an obs"):
        KnownModelMPC(MPCConfig(), model.spec, model)


@case("discrete-observations-for-pets")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match="has discrete ones.*mbrlax train dyna-q"):
        PETS(PETSConfig(), make_env("FrozenLake-v1").spec)


@case("dyna-q-vector-observations")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "dyna-q", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r")]
    )
    assert "tabular Dyna needs discrete observations" in said and "FrozenLake-v1" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-continuous-actions")
def _(tmp_path, capsys, finished_run):
    env = make_env(SpacesEnv(spaces.Discrete(4), BOX2))
    with pytest.raises(ValueError, match="tabular Dyna needs discrete actions"):
        DynaAgent(DynaQ(), env.spec)


@case("dyna-q-runs-on-gymnasium-env")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--env", "FrozenLake-v1", "--runs", "3"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert "needs a JAX-native env" in said and "mbrlax sweep" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-runs-with-evaluation")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--runs", "3", "--eval-episodes", "2"]
    said = cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
    assert "use --eval-episodes 0" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-refit-every")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "dyna-q", "--refit-every", "0", "--run-dir", str(tmp_path / "r")]
    )
    assert "use --refit-every 1" in said
    assert not (tmp_path / "r").exists()


@case("dyna-q-unknown-model")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "dyna-q", "--run-dir", str(tmp_path / "r"), "agent:dyna-q"]
    said = cli_error(capsys, [*argv, "--agent.model", "stochatic"])
    assert "stochatic" in said and "stochastic" in said
    assert not (tmp_path / "r").exists()


@case("sac-discrete-actions")
def _(tmp_path, capsys, finished_run):
    said = cli_error(
        capsys, ["train", "sac", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")]
    )
    assert "Discrete action space" in said and "Box actions" in said
    assert not (tmp_path / "r").exists()


@case("sac-refit-every")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "sac", "--refit-every", "0", "--run-dir", str(tmp_path / "r")]
    assert "use --refit-every 1" in cli_error(capsys, argv)
    assert not (tmp_path / "r").exists()


@case("mbpo-refit-every")
def _(tmp_path, capsys, finished_run):
    argv = ["train", "mbpo", "--env", "Pendulum-v1", "--refit-every", "5"]
    assert "use --refit-every 1" in cli_error(capsys, [*argv, "--run-dir", str(tmp_path / "r")])
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
    run_dir = tmp_path / "maze"
    main(["train", "dyna-q", "--episodes", "1", "--no-progress", "--run-dir", str(run_dir)])
    capsys.readouterr()
    said = cli_error(capsys, ["diagnose", str(run_dir)])
    assert "learns no dynamics model" in said and "PETS or MBPO" in said
    assert not (run_dir / "model_diagnostics.png").exists()


# Agents on envs they cannot act in: a usage error saying these phrases, before any run
# directory is made.
AGENT_REFUSALS = {
    "alphazero-on-box-actions": (
        "alphazero", "mbrlax/Pendulum-v0",
        ("AlphaZero searches over discrete actions", "mbrlax train mpc"),
    ),
    "alphazero-without-jax-model": (
        "alphazero", "Acrobot-v1",
        ("AlphaZero searches through a JAX-native env", "mbrlax/CartPole-v0"),  # a model to use
    ),
    "muzero-on-box-actions": (
        "muzero", "Pendulum-v1", ("MuZero searches over discrete actions", "mbrlax train sac")
    ),
    "muzero-discrete-observations": (
        "muzero", "FrozenLake-v1", ("vector observations", "dyna-q")
    ),
    "pilco-on-discrete-actions": (
        "pilco", "mbrlax/CartPole-v0", ("Discrete actions", "Box observations and Box actions")
    ),
    "pilco-without-known-reward": (
        "pilco", "HalfCheetah-v5", ("needs the reward", "register_task", "use PETS")
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
    assert "add agent.planner:mppi" in cli_error(capsys, [*argv, "agent.planner:cem"])
    assert not (tmp_path / "p.png").exists()


@case("lqr-mismatched-matrices")
def _(tmp_path, capsys, finished_run):
    with pytest.raises(ValueError, match=r"B must have shape \[S, A\] = \[4, A\]"):
        LQR.from_matrices(np.eye(4), np.ones((3, 2)), np.eye(4), np.eye(2), horizon=10)


@case("lqr-with-terminal-value")
def _(tmp_path, capsys, finished_run):
    lqr = LQR.from_matrices(*PointMass().linear_quadratic(), horizon=10)
    with pytest.raises(ValueError, match="give a quadratic terminal cost"):
        lqr.build(-np.ones(2), np.ones(2), terminal_value=lambda s: 0.0)


# ---------------------------------------------------------------- command line


@case("unknown-command")
def _(tmp_path, capsys, finished_run):
    assert "Did you mean 'train'" in cli_error(capsys, ["trian"])


@case("unknown-algorithm")
def _(tmp_path, capsys, finished_run):
    assert "Did you mean 'pets'" in cli_error(capsys, ["train", "petz"])


@case("option-typo")
def _(tmp_path, capsys, finished_run):
    assert "--episodes" in cli_error(capsys, ["train", "pets", "--episodez", "3"])


@case("option-bad-value")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--seed", "zero"])
    assert "--seed" in said


@case("resume-with-other-options")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--resume", str(finished_run), "--seed", "3"])
    assert "drop the other options (--seed 3)" in said


@case("resume-flag-without-dir")
def _(tmp_path, capsys, finished_run):
    assert "--resume needs a value" in cli_error(capsys, ["train", "pets", "--resume"])


# ---------------------------------------------------------------- run directories


@case("run-dir-holds-another-run")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["train", "pets", "--run-dir", str(finished_run)])
    assert "already holds a run; nothing was overwritten" in said and "mbrlax resume" in said


@case("overwrite-a-non-run-dir")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    said = cli_error(capsys, ["train", "pets", "--overwrite", "--run-dir", str(tmp_path / "mine")])
    assert "refuses to empty" in said
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


@case("unwritable-run-dir")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RunDirError, match="cannot write the run directory"):
        run(tiny_experiment(tmp_path / "a-file" / "run"))


@case("resume-a-dir-without-run")
def _(tmp_path, capsys, finished_run):
    assert "holds no run to resume" in cli_error(capsys, ["resume", str(tmp_path / "nothing")])


@case("eval-unfinished-run")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    (tmp_path / "r" / "final_model.eqx").unlink()
    with pytest.raises(FileNotFoundError, match="the run did not finish"):
        evaluate(tmp_path / "r", episodes=1)


@case("corrupt-latest-checkpoint")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    newest = CheckpointManager(tmp_path / "r").paths()[-1]
    newest.write_bytes(newest.read_bytes()[:-50])  # truncated
    rows = resume(tmp_path / "r").rows
    log = (tmp_path / "r" / "run.log").read_text()
    assert f"skipping unusable checkpoint {newest.name}" in log
    assert len(rows) == 2


@case("all-checkpoints-corrupt")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    for p in CheckpointManager(tmp_path / "r").paths():
        p.write_bytes(b"not a checkpoint")
    said = cli_error(capsys, ["resume", str(tmp_path / "r")])
    assert "no usable checkpoint" in said and "left as they are" in said


@case("checkpoint-of-another-config")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    import json

    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    cfg["experiment"]["agent"]["model"]["hidden_sizes"] = [16]
    (tmp_path / "r" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        CheckpointError, match=r"is float32\[2, 4, 8\], the state expects float32\[2, 4, 16\]"
    ):
        resume(tmp_path / "r")


@case("metrics-csv-damaged-before-resume")
def _(tmp_path, capsys, finished_run):
    shutil.copytree(finished_run, tmp_path / "r")
    (tmp_path / "r" / "metrics.csv").write_text("env_steps,episode\n")
    with pytest.raises(RunDirError, match="has 0 rows but the checkpoint says 2"):
        resume(tmp_path / "r")


@case("model-loss-nan")
def _(tmp_path, capsys, finished_run):
    env = make_env("mbrlax/Pendulum-v0")
    cfg = RunnerConfig(episodes=2, warmup_steps=100, eval_episodes=0, progress=False)
    with pytest.raises(TrainingError, match=r"train_loss=nan.*the run stopped.*learning-rate"):
        train(ConstantAgent(loss=float("nan")), env, None, cfg, seed=0, run_dir=tmp_path / "r")


@case("plot-path-without-runs")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "empty").mkdir()
    assert "holds no" in cli_error(capsys, ["plot", str(tmp_path / "empty")])


@case("malformed-threshold")
def _(tmp_path, capsys, finished_run):
    said = cli_error(capsys, ["compare", str(finished_run), "--threshold", "Pendulum=abc"])
    assert "threshold" in said


@case("corrupt-buffer-file")
def _(tmp_path, capsys, finished_run):
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ValueError, match="not a readable replay buffer"):
        ReplayBuffer.load(tmp_path / "b.npz")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, capsys, finished_run):
    CASES[name](tmp_path, capsys, finished_run)


def test_docs_list_every_case():
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", DOCS.read_text(), flags=re.M)
    assert sorted(ids) == sorted(CASES)
    assert len(CASES) >= 30
