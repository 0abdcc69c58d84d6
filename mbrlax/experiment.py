"""One training run from a typed config: make the envs and the agent, hand them to the runner."""

from __future__ import annotations

import dataclasses
import datetime
import time
import typing
from pathlib import Path
from typing import Annotated, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import tyro
from jaxtyping import PRNGKeyArray

from mbrlax.agents.alphazero import AlphaZero, AlphaZeroConfig
from mbrlax.agents.alphazero.presets import alphazero_preset
from mbrlax.agents.base import eval_act
from mbrlax.agents.dyna import DynaQ, PrioritizedSweeping
from mbrlax.agents.dyna_agent import DynaAgent
from mbrlax.agents.dyna_presets import DYNA_RUNNER, dyna_preset
from mbrlax.agents.mbpo import MBPO, MBPOConfig
from mbrlax.agents.mbpo.presets import mbpo_preset
from mbrlax.agents.mpc import KnownModelMPC, MPCConfig
from mbrlax.agents.mpc_presets import mpc_preset
from mbrlax.agents.muzero import MuZero, MuZeroConfig
from mbrlax.agents.muzero.presets import muzero_preset
from mbrlax.agents.pets import PETS, PETSConfig
from mbrlax.agents.pets.presets import pets_preset
from mbrlax.agents.pilco import PILCO, PILCOConfig
from mbrlax.agents.pilco.presets import pilco_preset
from mbrlax.agents.sac import SAC, SACConfig
from mbrlax.agents.sac.presets import sac_preset
from mbrlax.compiled import check_compilable, compiled_runs
from mbrlax.envs import get_task, list_jax_envs, make_env, make_jax_env
from mbrlax.logger import (
    CONFIG_FILE,
    CURVE_FILE,
    RunDirError,
    RunLogger,
    read_config,
    write_json_atomic,
)
from mbrlax.models.ensemble import ProbabilisticEnsemble
from mbrlax.plotting import plot_learning_curves
from mbrlax.runner import (
    EVAL_STEP_LIMIT,
    METRIC_COLUMNS,
    RunnerConfig,
    RunResult,
    buffer_capacity,
    check_warmup,
    run_episode,
    train,
)
from mbrlax.video import make_recording_env

MODEL_FILE = "final_model.eqx"
SUMMARY_FILE = "summary.json"


def default_run_dir(algo: str, env: str, seed: int) -> Path:
    """``runs/<algo>-<env>-seed<seed>-<time>``, where a run goes unless told otherwise."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{algo}-{env.replace('/', '_')}-seed{seed}-{stamp}"


@dataclasses.dataclass(frozen=True)
class PETSExperiment:
    """Train PETS on one env.

    Attributes:
        env: a Gymnasium id (e.g. Pendulum-v1) or an mbrlax JAX-native id
            (mbrlax/Pendulum-v0, mbrlax/CartpoleSwingup-v0).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv, TensorBoard events and plots go
            (default: runs/pets-<env>-seed<seed>-<time>).
        agent: PETS hyper-parameters (defaults come from the env's preset).
        runner: episodes, warm-up, evaluation.
    """

    env: str = "Pendulum-v1"
    seed: int = 0
    run_dir: Path | None = None
    agent: PETSConfig = PETSConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig()

    algo: typing.ClassVar[str] = "pets"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> PETSExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.pets.presets``)."""
        agent, runner = pets_preset(env)
        return cls(env=env, agent=agent, runner=runner, **kwargs)

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Nothing to check before the env is made (the agent checks the env's spec)."""

    def make_agent(self, spec) -> PETS:
        return PETS(self.agent, spec, get_task(self.env))

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps of the agent's state: the learned dynamics."""
        return state.model_params

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state._replace(model_params=model)


@dataclasses.dataclass(frozen=True)
class MPCExperiment:
    """Act with model predictive control through a known model (no learning).

    Attributes:
        env: the env acted in: an mbrlax JAX-native id (mbrlax/Pendulum-v0, ...), or a
            Gymnasium id whose dynamics a JAX env models (Pendulum-v1 with --model
            mbrlax/Pendulum-v0).
        model: the JAX-native env planned through (default: env itself, which must then be
            JAX-native).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv and plots go
            (default: runs/mpc-<env>-seed<seed>-<time>).
        agent: the planner (defaults come from the env's preset).
        runner: episodes and evaluation (no warm-up: the model is known).
    """

    env: str = "mbrlax/Pendulum-v0"
    model: str | None = None
    seed: int = 0
    run_dir: Path | None = None
    agent: MPCConfig = MPCConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig(
        episodes=3, warmup_steps=0, eval_episodes=0
    )

    algo: typing.ClassVar[str] = "mpc"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> MPCExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.mpc_presets``)."""
        agent, runner, model = mpc_preset(env)
        return cls(env=env, model=model, agent=agent, runner=runner, **kwargs)

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` saying what to do if the model cannot plan for the env (not a
        JAX-native env, other observations or actions); before any run directory is made."""
        _check_agent_for_env(self)

    def make_agent(self, spec) -> KnownModelMPC:
        if (self.model or self.env) not in list_jax_envs():
            what = f"--model {self.model!r}" if self.model else f"the env {self.env!r}"
            raise ValueError(
                f"MPC plans through a JAX-native env, and {what} is not one; choose "
                f"--model from {', '.join(list_jax_envs())}, or learn a model with "
                "`mbrlax train pets`."
            )
        return KnownModelMPC(self.agent, spec, make_jax_env(self.model or self.env))

    def final_model(self, state: Any) -> None:
        """Nothing is learned, so there is no final model to keep."""
        del state

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state


@dataclasses.dataclass(frozen=True)
class DynaExperiment:
    """Tabular Dyna-Q, Dyna-Q+ or prioritized sweeping on an env with discrete observations
    and actions.

    Attributes:
        env: a Gymnasium id with Discrete observations (FrozenLake-v1, CliffWalking-v1,
            Taxi-v4) or a JAX-native maze (mbrlax/DynaMaze-v0, mbrlax/BlockingMaze-v0,
            mbrlax/ShortcutMaze-v0).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv and plots go
            (default: runs/dyna-q-<env>-seed<seed>-<time>).
        agent: the algorithm and its hyper-parameters (defaults come from the env's preset):
            agent:dyna-q (planning-steps 0 is Q-learning, kappa > 0 Dyna-Q+) or
            agent:prioritized-sweeping; --agent.model stochastic for a count-based model.
        runner: episodes and evaluation; Dyna learns after every env step (refit-every 1).
        runs: independent runs, seeds seed, seed+1, ...; more than one needs a JAX-native env
            (the mazes) and trains them all as one vmapped, compiled computation, each run
            written to run_dir/seed<k> exactly as the runner would have trained it.
    """

    env: str = "mbrlax/DynaMaze-v0"
    seed: int = 0
    run_dir: Path | None = None
    agent: DynaQ | PrioritizedSweeping = DynaQ()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = DYNA_RUNNER
    runs: int = 1

    algo: typing.ClassVar[str] = "dyna-q"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> DynaExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.dyna_presets``); ``kwargs`` override
        any field, ``agent`` and ``runner`` included."""
        agent, runner = dyna_preset(env)
        return cls(**{"env": env, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` saying what to do if the env is not tabular or the runner
        would not learn after every step; before any run directory is made."""
        if self.runner.refit_every != 1:
            raise ValueError(
                "Dyna learns after every env step: use --refit-every 1 (got "
                f"{self.runner.refit_every})."
            )
        if self.runs < 1:
            raise ValueError(f"--runs must be >= 1, got {self.runs}.")
        if self.runs > 1:
            if self.env not in list_jax_envs():
                raise ValueError(
                    f"--runs {self.runs} compiles the runs into one computation, which needs a "
                    f"JAX-native env, and {self.env!r} is not one; run its seeds one by one "
                    f"(`mbrlax sweep --envs {self.env} --seeds ...`), or use a maze "
                    "(mbrlax/DynaMaze-v0, ...)."
                )
            check_compilable(self.runner)
        _check_agent_for_env(self)

    def make_agent(self, spec) -> DynaAgent:
        return DynaAgent(self.agent, spec)

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the whole agent (Q table and tabular model)."""
        return state

    def with_final_model(self, state: Any, model: Any) -> Any:
        del state
        return model


@dataclasses.dataclass(frozen=True)
class SACExperiment:
    """Train SAC (model-free) on an env with Box observations and actions.

    Attributes:
        env: a Gymnasium id (Pendulum-v1, InvertedPendulum-v5, Hopper-v5, HalfCheetah-v5,
            Walker2d-v5, ...) or an mbrlax JAX-native id.
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv, TensorBoard events and plots go
            (default: runs/sac-<env>-seed<seed>-<time>).
        agent: SAC hyper-parameters (the paper's by default).
        runner: run length (episodes, total-steps), warm-up (random actions before learning),
            evaluation; SAC learns after every env step (refit-every 1).
    """

    env: str = "Pendulum-v1"
    seed: int = 0
    run_dir: Path | None = None
    agent: SACConfig = SACConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig()

    algo: typing.ClassVar[str] = "sac"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> SACExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.sac.presets``); ``kwargs`` override
        any field."""
        agent, runner = sac_preset(env)
        return cls(**{"env": env, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` if the runner would not learn after every step or the env
        does not suit SAC; before any run directory is made."""
        if self.runner.refit_every < 1:
            raise ValueError(
                "SAC learns after every env step: use --refit-every 1 (got "
                f"{self.runner.refit_every}; 0 would learn only once per episode)."
            )
        _check_agent_for_env(self)

    def make_agent(self, spec) -> SAC:
        return SAC(self.agent, spec)

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the policy network."""
        return state.actor

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state._replace(actor=model)


@dataclasses.dataclass(frozen=True)
class MBPOExperiment:
    """Train MBPO (SAC on branched rollouts of a probabilistic ensemble).

    Attributes:
        env: a Gymnasium id with Box observations and actions (InvertedPendulum-v5,
            Hopper-v5, Walker2d-v5, HalfCheetah-v5, Pendulum-v1, ...).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv, TensorBoard events and plots go
            (default: runs/mbpo-<env>-seed<seed>-<time>).
        agent: MBPO hyper-parameters (defaults per env from the paper: see
            mbrlax.agents.mbpo.presets).
        runner: run length (episodes, total-steps), warm-up (random actions before learning),
            evaluation; MBPO learns after every env step (refit-every 1).
    """

    env: str = "Hopper-v5"
    seed: int = 0
    run_dir: Path | None = None
    agent: MBPOConfig = MBPOConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig()

    algo: typing.ClassVar[str] = "mbpo"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> MBPOExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.mbpo.presets``); ``kwargs`` override
        any field."""
        agent, runner = mbpo_preset(env)
        return cls(**{"env": env, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` if the runner would not learn after every step or the env
        does not suit MBPO; before any run directory is made."""
        if self.runner.refit_every != 1:
            raise ValueError(
                "MBPO learns after every env step (its schedule counts them): use "
                f"--refit-every 1 (got {self.runner.refit_every})."
            )
        _check_agent_for_env(self)

    def make_agent(self, spec) -> MBPO:
        return MBPO(self.agent, spec, get_task(self.env))

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the policy network and the ensemble."""
        return (state.sac.actor, state.model_params)

    def with_final_model(self, state: Any, model: Any) -> Any:
        actor, params = model
        return state._replace(sac=state.sac._replace(actor=actor), model_params=params)


@dataclasses.dataclass(frozen=True)
class AlphaZeroExperiment:
    """Train AlphaZero (MCTS guided by a policy-value network) through a known model.

    Attributes:
        env: the env acted in, with Discrete actions: an mbrlax JAX-native id
            (mbrlax/CartPole-v0, mbrlax/Catch-v0), or a Gymnasium id whose dynamics a JAX env
            models (CartPole-v1 with --model mbrlax/CartPole-v0).
        model: the JAX-native env the search runs through (default: env itself, which must
            then be JAX-native).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv and plots go
            (default: runs/alphazero-<env>-seed<seed>-<time>).
        agent: AlphaZero hyper-parameters (defaults come from the env's preset, see
            mbrlax.agents.alphazero.presets).
        runner: run length, warm-up, evaluation; AlphaZero learns after every env step
            (refit-every 1).
    """

    env: str = "mbrlax/CartPole-v0"
    model: str | None = None
    seed: int = 0
    run_dir: Path | None = None
    agent: AlphaZeroConfig = AlphaZeroConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig(refit_every=1)

    algo: typing.ClassVar[str] = "alphazero"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> AlphaZeroExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.alphazero.presets``); ``kwargs``
        override any field."""
        agent, runner, model = alphazero_preset(env)
        return cls(**{"env": env, "model": model, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` saying what to do if the model cannot search for the env;
        before any run directory is made."""
        _check_agent_for_env(self)

    def make_agent(self, spec) -> AlphaZero:
        if (self.model or self.env) not in list_jax_envs():
            what = f"--model {self.model!r}" if self.model else f"the env {self.env!r}"
            raise ValueError(
                f"AlphaZero searches through a JAX-native env, and {what} is not one; choose "
                f"--model from {', '.join(list_jax_envs())}."
            )
        return AlphaZero(self.agent, spec, make_jax_env(self.model or self.env))

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the policy-value network."""
        return state.net

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state._replace(net=model)


@dataclasses.dataclass(frozen=True)
class MuZeroExperiment:
    """Train MuZero (MCTS through a learned value-equivalent model).

    Attributes:
        env: an env with Box observations and Discrete actions (CartPole-v1, Acrobot-v1,
            mbrlax/CartPole-v0, mbrlax/Catch-v0, ...).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv and plots go
            (default: runs/muzero-<env>-seed<seed>-<time>).
        agent: MuZero hyper-parameters (defaults come from the env's preset, see
            mbrlax.agents.muzero.presets).
        runner: run length, warm-up, evaluation; MuZero learns after every env step
            (refit-every 1).
    """

    env: str = "CartPole-v1"
    seed: int = 0
    run_dir: Path | None = None
    agent: MuZeroConfig = MuZeroConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig(refit_every=1)

    algo: typing.ClassVar[str] = "muzero"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> MuZeroExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.muzero.presets``); ``kwargs``
        override any field."""
        agent, runner = muzero_preset(env)
        return cls(**{"env": env, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` saying what to do if the env does not suit MuZero; before any
        run directory is made."""
        _check_agent_for_env(self)

    def make_agent(self, spec) -> MuZero:
        return MuZero(self.agent, spec)

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the representation, dynamics and prediction
        networks."""
        return state.nets

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state._replace(nets=model)


@dataclasses.dataclass(frozen=True)
class PILCOExperiment:
    """Train PILCO (policy search through a Gaussian-process model).

    Attributes:
        env: an env with Box observations and actions whose reward mbrlax knows as a function
            of observations (mbrlax/PendulumSwingup-v0, Pendulum-v1, mbrlax/Pendulum-v0, ...).
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv and plots go
            (default: runs/pilco-<env>-seed<seed>-<time>).
        agent: PILCO hyper-parameters (defaults come from the env's preset, see
            mbrlax.agents.pilco.presets).
        runner: episodes (the first one random: --warmup-steps), evaluation; PILCO learns
            after every episode.
    """

    env: str = "mbrlax/PendulumSwingup-v0"
    seed: int = 0
    run_dir: Path | None = None
    agent: PILCOConfig = PILCOConfig()
    runner: Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes] = RunnerConfig()

    algo: typing.ClassVar[str] = "pilco"

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> PILCOExperiment:
        """The defaults for ``env`` (see ``mbrlax.agents.pilco.presets``); ``kwargs``
        override any field."""
        agent, runner = pilco_preset(env)
        return cls(**{"env": env, "agent": agent, "runner": runner, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self) -> None:
        """Raise ``ValueError`` saying what to do if the env does not suit PILCO; before any
        run directory is made."""
        _check_agent_for_env(self)

    def make_agent(self, spec) -> PILCO:
        return PILCO(self.agent, spec, get_task(self.env), buffer_capacity(self.runner, spec))

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps: the GP model and the policy."""
        return (state.model_params, state.policy)

    def with_final_model(self, state: Any, model: Any) -> Any:
        return state._replace(model_params=model[0], policy=model[1])


def _check_agent_for_env(exp: Any) -> None:
    """Make the env and the agent once, so that an unsuitable env is refused up front."""
    env = make_env(exp.env)
    try:
        exp.make_agent(env.spec)
        check_warmup(exp.runner, env.spec)
    finally:
        env.close()


Experiment = (
    PETSExperiment
    | MPCExperiment
    | DynaExperiment
    | SACExperiment
    | MBPOExperiment
    | AlphaZeroExperiment
    | MuZeroExperiment
    | PILCOExperiment
)
EXPERIMENTS: dict[str, type[Experiment]] = {
    "pets": PETSExperiment,
    "mpc": MPCExperiment,
    "dyna-q": DynaExperiment,
    "sac": SACExperiment,
    "mbpo": MBPOExperiment,
    "alphazero": AlphaZeroExperiment,
    "muzero": MuZeroExperiment,
    "pilco": PILCOExperiment,
}


def run(exp: Experiment, save: bool = True, resume: bool = False, **train_kwargs: Any) -> RunResult:
    """Run an experiment; with ``save`` it writes a run directory and the final model.

    With ``resume``, ``exp.run_dir`` holds the run to continue (see :func:`resume`).
    """
    env, eval_env = make_env(exp.env), make_env(exp.env)
    video_env = make_recording_env(exp.env) if exp.runner.video_every and save else None
    agent = exp.make_agent(env.spec)
    run_dir = (exp.run_dir or exp.default_run_dir()) if save else None
    record = {"algo": exp.algo, "env": exp.env, "seed": exp.seed, "experiment": exp}
    try:
        result = train(
            agent,
            env,
            eval_env,
            exp.runner,
            exp.seed,
            run_dir,
            record,
            resume=resume,
            video_env=video_env,
            **train_kwargs,
        )
    finally:
        env.close()
        eval_env.close()
        if video_env is not None:
            video_env.close()
    if result.run_dir is not None:
        _finish(exp, result)
    return result


def run_many(exp: DynaExperiment) -> list[RunResult]:
    """``exp.runs`` runs of tabular Dyna on a JAX-native env as one compiled computation.

    Seeds ``exp.seed, exp.seed + 1, ...``; run ``k`` goes to ``<run_dir>/seed<k>``, a run
    directory like any other (config, metrics, learning curve, final model), holding what
    ``mbrlax train dyna-q --runs 1 --seed k`` would have written (see
    :func:`mbrlax.compiled.compiled_runs`). ``<run_dir>/learning_curve.png`` shows
    them all. ``wall_seconds`` is the time of the whole computation, on each run's last row.
    """
    exp.check()
    base = Path(exp.run_dir or exp.default_run_dir())
    seeds = [exp.seed + i for i in range(exp.runs)]
    singles = [dataclasses.replace(exp, seed=s, runs=1, run_dir=base / f"seed{s}") for s in seeds]
    taken = [e.run_dir for e in singles if (e.run_dir / CONFIG_FILE).exists()]
    if taken:
        raise RunDirError(
            f"{taken[0]} already holds a run; nothing was overwritten. Pass another --run-dir, "
            "or delete that directory if you no longer need it."
        )
    env = make_jax_env(exp.env)
    agent = exp.make_agent(env.spec)
    start = time.perf_counter()
    out = jax.device_get(compiled_runs(agent, env, exp.runner, seeds))
    wall = time.perf_counter() - start
    results = []
    for i, single in enumerate(singles):
        record = {"algo": exp.algo, "env": exp.env, "seed": single.seed, "experiment": single}
        logger = RunLogger(single.run_dir, record, METRIC_COLUMNS, tensorboard=False)
        rows = []
        for e in range(exp.runner.episodes):
            last = e + 1 == exp.runner.episodes
            row = {
                "env_steps": int(out.env_steps[i, e]),
                "episode": e + 1,
                "train_return": float(out.episode_return[i, e]),
                "train_episode_length": int(out.episode_length[i, e]),
                "wall_seconds": wall if last else float("nan"),
            }
            logger.log_row(row)
            rows.append(row)
        logger.close()
        state = jax.tree.map(lambda x, i=i: x[i], out.agent)
        _finish(single, RunResult(rows, single.run_dir, state))
        plot_learning_curves([single.run_dir], single.run_dir / CURVE_FILE)
        results.append(RunResult(rows, single.run_dir, state))
    plot_learning_curves([e.run_dir for e in singles], base / CURVE_FILE)
    return results


def _finish(exp: Experiment, result: RunResult) -> None:
    """Keep a finished run's final model and its summary in its run directory."""
    model = exp.final_model(result.agent_state)
    if model is not None:  # something learned to keep
        tmp = result.run_dir / (MODEL_FILE + ".tmp")
        eqx.tree_serialise_leaves(tmp, model)
        tmp.replace(result.run_dir / MODEL_FILE)  # never half a model file
    last = result.rows[-1]
    write_json_atomic(
        result.run_dir / SUMMARY_FILE,
        {k: last.get(k) for k in ("env_steps", "episode", "eval_return", "wall_seconds")},
    )


def resume(run_dir: str | Path, **train_kwargs: Any) -> RunResult:
    """Continue the run in ``run_dir`` from its newest usable checkpoint, with the config it
    was started with; a finished run is left as it is and its rows returned."""
    if not (Path(run_dir) / CONFIG_FILE).is_file():
        raise RunDirError(
            f"{run_dir} holds no run to resume (no {CONFIG_FILE}); start one with `mbrlax train`."
        )
    exp = dataclasses.replace(load_experiment(run_dir), run_dir=Path(run_dir))
    return run(exp, resume=True, **train_kwargs)


def _from_jsonable(cls: Any, value: Any) -> Any:
    """Rebuild a (nested) config dataclass from ``mbrlax.logger.to_jsonable`` output."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        kwargs = {
            f.name: _from_jsonable(hints[f.name], value[f.name])
            for f in dataclasses.fields(cls)
            if f.name in value
        }
        return cls(**kwargs)
    origin = typing.get_origin(cls)
    if origin is Annotated:
        return _from_jsonable(typing.get_args(cls)[0], value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for option in typing.get_args(cls):
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                if value.get("__type__") == option.__name__:
                    return _from_jsonable(option, value)
            elif value is None and option is type(None):
                return None
        non_none = [a for a in typing.get_args(cls) if a is not type(None)]
        return _from_jsonable(non_none[0], value) if value is not None else None
    if origin is tuple:
        return tuple(value)
    if cls is Path:
        return Path(value)
    return value


def load_experiment(run_dir: str | Path) -> Experiment:
    """The experiment a run directory was made by."""
    record = read_config(run_dir)
    algo = record.get("algo")
    if algo not in EXPERIMENTS:
        raise ValueError(
            f"{run_dir} was made by {algo!r}; known algorithms: {', '.join(EXPERIMENTS)}."
        )
    return _from_jsonable(EXPERIMENTS[algo], record["experiment"])


DIAGNOSTICS_FILE = "model_diagnostics.png"


def diagnose(
    run_dir: str | Path,
    start: int = 0,
    horizon: int = 450,
    error_horizon: int = 100,
    seed: int = 54321,
    out: str | Path | None = None,
) -> Path:
    """Picture how far the final model of a run can be trusted (PETS and MBPO runs).

    Plays one held-out episode (seed ``seed``) with the run's final policy, then rolls the
    final ensemble open-loop from the real state at step ``start`` along the episode's real
    actions for up to ``horizon`` steps: predicted mean +- one sigma against the truth, per
    state dimension, and the multi-step error for ``1 .. error_horizon`` steps ahead
    (normalised by the spread of the model's training data). Saves
    ``<run_dir>/model_diagnostics.png`` (or ``out``) and returns its path.
    """
    from mbrlax.model_plots import plot_model_diagnostics
    from mbrlax.models.diagnostics import multistep_error, open_loop

    run_dir = Path(run_dir)
    exp = load_experiment(run_dir)
    env = make_env(exp.env)
    try:
        agent = exp.make_agent(env.spec)
        if not isinstance(getattr(agent, "model", None), ProbabilisticEnsemble):
            raise ValueError(
                f"{run_dir} is a {exp.algo} run, which learns no dynamics model; model "
                "diagnostics need a PETS or MBPO run."
            )
        state, act = _final_agent(exp, agent, run_dir)
        key = jax.random.key(seed)
        steps: list[Any] = []

        def policy(obs):
            nonlocal state, key
            key, k = jax.random.split(key)
            action, state, _ = act(state, obs, k)
            return np.asarray(action)

        state = agent.begin_episode(state)
        limit = env.spec.max_episode_steps or EVAL_STEP_LIMIT
        run_episode(env, policy, seed, on_step=steps.append, max_steps=limit)
    finally:
        env.close()
    obs = jnp.asarray(np.stack([steps[0].obs] + [t.next_obs for t in steps]), jnp.float32)
    actions = jnp.asarray(np.stack([t.action for t in steps]), jnp.float32)
    length = actions.shape[0]
    if start >= length:
        raise ValueError(
            f"the held-out episode has {length} steps, so --start must be below {length}."
        )
    horizon = min(horizon, length - start)
    params = state.model_params
    k_open, k_err = jax.random.split(jax.random.key(seed + 1))
    pred = open_loop(agent.model, params, obs, actions, start, horizon, k_open)
    scale = params.input_norm.std[: obs.shape[1]]
    errors = multistep_error(
        agent.model, params, obs, actions, min(error_horizon, length), k_err, scale=scale
    )
    title = (
        f"{exp.algo} on {exp.env}: final model open-loop from step {start} of a held-out "
        f"episode ({length} steps)"
    )
    return plot_model_diagnostics(
        pred, np.asarray(errors), out or run_dir / DIAGNOSTICS_FILE, start=start, title=title
    )


def _final_agent(
    exp: Any, agent: Any, run_dir: Path, key: PRNGKeyArray | None = None
) -> tuple[Any, Any]:
    """The agent state (``agent.init(key)``) with the run's final model loaded, and the
    agent's evaluation ``act``."""
    model_path = run_dir / MODEL_FILE
    state = agent.init(jax.random.key(0) if key is None else key)
    template = exp.final_model(state)
    if template is not None:
        if not model_path.exists():
            raise FileNotFoundError(
                f"{model_path} is missing: the run did not finish, so there is no final model."
            )
        state = exp.with_final_model(state, eqx.tree_deserialise_leaves(model_path, template))
    return state, eval_act(agent)


def evaluate(run_dir: str | Path, episodes: int = 5, seed: int = 12345) -> list[float]:
    """Returns of ``episodes`` episodes of the final agent saved in ``run_dir``."""
    run_dir = Path(run_dir)
    exp = load_experiment(run_dir)
    env = make_env(exp.env)
    agent = exp.make_agent(env.spec)
    key = jax.random.key(seed)
    key, init_key = jax.random.split(key)
    try:
        state, act = _final_agent(exp, agent, run_dir, init_key)
    except FileNotFoundError:
        env.close()
        raise
    returns = []
    for i in range(episodes):
        state = agent.begin_episode(state)

        def policy(obs):
            nonlocal state, key
            key, k = jax.random.split(key)
            action, state, _ = act(state, obs, k)
            return np.asarray(action)

        limit = env.spec.max_episode_steps or EVAL_STEP_LIMIT
        returns.append(run_episode(env, policy, seed + i, max_steps=limit)[0])
    env.close()
    return returns
