"""One training run from a typed config: make the envs and the agent, hand them to the runner.

There is one experiment type, :class:`Experiment`; each agent of the registry gets its own
subclass (``EXPERIMENTS["pets"]``, also importable as ``PETSExperiment``), made from the
agent's :class:`~mbrlax.agents.base.AgentEntry`, whose ``agent`` field has the agent's config
type so that the CLI (tyro) offers its options.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import functools
import re
import textwrap
import time
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, NamedTuple

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import tyro
from jaxtyping import PRNGKeyArray

from mbrlax.agents.base import AgentContext, AgentEntry, eval_act
from mbrlax.agents.registry import AGENTS, get_agent
from mbrlax.analysis.plotting import plot_learning_curves
from mbrlax.analysis.video import make_recording_env
from mbrlax.envs import get_task, list_jax_envs, make_env, make_jax_env
from mbrlax.envs.base import EnvError
from mbrlax.envs.gym_adapter import GymEnv
from mbrlax.models.ensemble import ProbabilisticEnsemble
from mbrlax.training.logger import (
    CONFIG_FILE,
    CURVE_FILE,
    RunDirError,
    RunLogger,
    read_config,
    write_json_atomic,
)
from mbrlax.training.loop import (
    EVAL_STEP_LIMIT,
    RUN_COLUMNS,
    RunnerConfig,
    RunResult,
    buffer_capacity,
    check_warmup,
    run_episode,
    train,
)
from mbrlax.training.scan_loop import check_compilable, compiled_runs

MODEL_FILE = "final_model.eqx"
SUMMARY_FILE = "summary.json"


def default_run_dir(algo: str, env: str, seed: int) -> Path:
    """``runs/<algo>-<env>-seed<seed>-<time>``, where a run goes unless told otherwise."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^\w.-]+", "_", env)  # dmc/cartpole-swingup?action_repeat=2: a plain name
    return Path("runs") / f"{algo}-{name}-seed{seed}-{stamp}"


class Experiment:
    """One run of one agent on one env: the base of each agent's experiment type (see
    :func:`experiment_type`), a frozen dataclass with these fields:

    Attributes:
        env: the env's id.
        model: (agents that plan through a known model) the JAX-native env planned through.
        seed: the one seed of the run; same seed, same numbers.
        run_dir: where config, metrics.csv, TensorBoard events and plots go
            (default: runs/<algo>-<env>-seed<seed>-<time>).
        agent: the agent's hyper-parameters, of its config type.
        runner: run length, warm-up, evaluation, checkpoints.
        runs: (agents that learn in the compiled loop) independent runs as one computation.
    """

    env: str
    seed: int
    run_dir: Path | None
    agent: Any
    runner: RunnerConfig

    entry: ClassVar[AgentEntry]
    algo: ClassVar[str]

    @classmethod
    def preset(cls, env: str, **kwargs: Any) -> Experiment:
        """The defaults for ``env`` (the agent's preset for it, or its general defaults);
        ``kwargs`` override any field, ``agent`` and ``runner`` included."""
        preset = cls.entry.preset(env)
        fields = {"env": env, "agent": preset.agent, "runner": preset.runner}
        if cls.entry.known_model:
            fields["model"] = preset.model
        return cls(**{**fields, **kwargs})

    def default_run_dir(self) -> Path:
        return default_run_dir(self.algo, self.env, self.seed)

    def check(self, env: GymEnv | None = None) -> None:
        """Raise ``ValueError`` saying what to do if the run cannot work (settings the agent
        refuses, an env that does not suit it); before any run directory is made. ``env``:
        the env the run will use, when it is not made from ``self.env`` (an instance)."""
        if self.entry.check is not None:
            self.entry.check(self.agent, self.runner)
        runs = getattr(self, "runs", 1)
        if runs < 1:
            raise ValueError(f"--runs must be >= 1, got {runs}.")
        if runs > 1:
            if self.env not in list_jax_envs():
                raise ValueError(
                    f"--runs {runs} compiles the runs into one computation, which needs a "
                    f"JAX-native env, and {self.env!r} is not one; run its seeds one by one "
                    f"(`mbrlax sweep --envs {self.env} --seeds ...`), or use a maze "
                    "(mbrlax/DynaMaze-v0, ...)."
                )
            check_compilable(self.runner)
        made = env is None
        env = make_env(self.env) if made else env  # so an unsuitable env is refused up front
        try:
            self.make_agent(env.spec)
            check_warmup(self.runner, env.spec)
        finally:
            if made:
                env.close()

    def make_agent(self, spec) -> Any:
        """The agent for the env of ``spec``."""
        if spec.is_image and not self.entry.pixels:
            raise ValueError(
                f"{self.entry.label} needs vector observations, and {self.env!r} gives "
                f"{spec.obs_shape[0]} x {spec.obs_shape[1]} frames; learn from pixels with "
                "`mbrlax train dreamer` or `mbrlax train planet`, or drop ?pixels= from the id."
            )
        model = None
        if self.entry.known_model:
            model_id = getattr(self, "model", None)
            if (model_id or self.env) not in list_jax_envs():
                what = f"--model {model_id!r}" if model_id else f"the env {self.env!r}"
                raise ValueError(
                    f"{self.entry.known_model} through a JAX-native env, and {what} is not "
                    f"one; choose --model from {', '.join(list_jax_envs())}, or learn a model "
                    f"with `mbrlax train {self.entry.learned_instead}`."
                )
            model = make_jax_env(model_id or self.env)
        context = AgentContext(
            spec=spec,
            env_id=self.env,
            task=get_task(self.env),
            model=model,
            buffer_capacity=buffer_capacity(self.runner, spec),
        )
        return self.entry.make(self.agent, context)

    def final_model(self, state: Any) -> Any:
        """What ``final_model.eqx`` keeps of the agent's state (``None``: nothing learned)."""
        return None if self.entry.saved is None else self.entry.saved(state)

    def with_final_model(self, state: Any, model: Any) -> Any:
        """``state`` with the part :meth:`final_model` keeps replaced by ``model``."""
        if self.entry.saved is None:
            return state
        if self.entry.saved(state) is state:
            return model
        return eqx.tree_at(self.entry.saved, state, model)


@functools.cache
def experiment_type(name: str) -> type[Experiment]:
    """The experiment type of the registry's agent ``name``: :class:`Experiment` with the
    agent's config type and defaults, its help written from the agent's entry, and
    ``--model`` / ``--runs`` for agents that take them."""
    entry = AGENTS[name]
    options = typing.get_args(entry.config) or (entry.config,)  # a union offers several

    def field(name: str, kind: Any, default: Any, help: str) -> tuple[Any, str]:
        item = (name, kind, dataclasses.field(default=default))
        return item, textwrap.fill(
            f"{name}: {help}",
            width=88,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        )

    fields = [field("env", str, entry.default_env, entry.env_help)]
    if entry.known_model:
        fields.append(
            field(
                "model",
                str | None,
                None,
                "the JAX-native env planned through (default: env itself, which must then be "
                "JAX-native).",
            )
        )
    fields += [
        field("seed", int, 0, "the one seed of the run; same seed, same numbers."),
        field(
            "run_dir",
            Path | None,
            None,
            "where config, metrics.csv, TensorBoard events and plots go (default: "
            f"runs/{name}-<env>-seed<seed>-<time>).",
        ),
        field("agent", entry.config, options[0](), entry.agent_help),
        field(
            "runner",
            Annotated[RunnerConfig, tyro.conf.OmitArgPrefixes],
            entry.runner,
            entry.runner_help,
        ),
    ]
    if entry.compiled_runs:
        fields.append(
            field(
                "runs",
                int,
                1,
                "independent runs, seeds seed, seed+1, ...; more than one needs a JAX-native "
                "env (the mazes) and trains them all as one vmapped, compiled computation, each "
                "run written to run_dir/seed<k> exactly as the runner would have trained it.",
            )
        )
    doc = "\n".join([textwrap.fill(entry.title, width=88), "", "Attributes:"])
    doc += "\n" + "\n".join(help for _, help in fields) + "\n"
    cls = dataclasses.make_dataclass(
        f"{entry.label}Experiment",
        [item for item, _ in fields],
        bases=(Experiment,),
        frozen=True,
        namespace={"__doc__": doc, "entry": entry, "algo": name},
    )
    cls.__module__ = __name__
    return cls


EXPERIMENTS: dict[str, type[Experiment]] = {name: experiment_type(name) for name in AGENTS}

# The experiment types under the names they had when each was written out by hand.
PETSExperiment = EXPERIMENTS["pets"]
MPCExperiment = EXPERIMENTS["mpc"]
DynaExperiment = EXPERIMENTS["dyna-q"]
SACExperiment = EXPERIMENTS["sac"]
MBPOExperiment = EXPERIMENTS["mbpo"]
AlphaZeroExperiment = EXPERIMENTS["alphazero"]
MuZeroExperiment = EXPERIMENTS["muzero"]
PILCOExperiment = EXPERIMENTS["pilco"]


def run(
    exp: Experiment,
    save: bool = True,
    resume: bool = False,
    env: gymnasium.Env | None = None,
    eval_env: gymnasium.Env | None = None,
    **train_kwargs: Any,
) -> RunResult:
    """Run an experiment; with ``save`` it writes a run directory and the final model.

    With ``resume``, ``exp.run_dir`` holds the run to continue (see :func:`resume`). ``env``:
    an env instance to train in instead of making ``exp.env`` (see :func:`train`); evaluation
    episodes then run in ``eval_env``, by default a copy of ``env``.
    """
    envs = _make_envs(exp, env, eval_env, video=bool(exp.runner.video_every and save))
    agent = exp.make_agent(envs.train.spec)
    run_dir = (exp.run_dir or exp.default_run_dir()) if save else None
    record = {"algo": exp.algo, "env": exp.env, "seed": exp.seed, "experiment": exp}
    if env is not None:
        record["env_instance"] = _class_path(env)
    try:
        result = train(
            agent,
            envs.train,
            envs.eval,
            exp.runner,
            exp.seed,
            run_dir,
            record,
            resume=resume,
            video_env=envs.video,
            **train_kwargs,
        )
    finally:
        envs.close()
    if result.run_dir is not None:
        _finish(exp, result)
    return result


class _Envs(NamedTuple):
    """The envs of one run: training, evaluation, and (when videos are wanted) recording;
    ``owned`` are those made here, closed after the run (a caller's instance is left open)."""

    train: GymEnv
    eval: GymEnv
    video: GymEnv | None
    owned: tuple[GymEnv, ...]

    def close(self) -> None:
        for env in self.owned:
            env.close()


def _make_envs(
    exp: Experiment, env: gymnasium.Env | None, eval_env: gymnasium.Env | None, video: bool
) -> _Envs:
    if env is None:
        train_env, evaluation = make_env(exp.env), make_env(exp.env)
        video_env = make_recording_env(exp.env) if video else None
        owned = tuple(e for e in (train_env, evaluation, video_env) if e is not None)
        return _Envs(train_env, evaluation, video_env, owned)
    train_env = make_env(env)
    if eval_env is None:
        try:  # evaluation must not move the training env's state
            eval_env = copy.deepcopy(env)
        except Exception as e:
            raise EnvError(
                f"the env instance {_class_path(env)} cannot be copied for evaluation "
                f"({type(e).__name__}: {e}); pass a second instance as eval_env=..."
            ) from None
    evaluation = make_env(eval_env)
    if video and getattr(eval_env, "render_mode", None) != "rgb_array":
        raise EnvError(
            "video_every records evaluation episodes, which needs an env instance made with "
            "render_mode='rgb_array'; make it so, or pass video_every=0."
        )
    # Rendering does not touch the env's state: the evaluation env records its own episodes.
    return _Envs(train_env, evaluation, evaluation if video else None, ())


def _class_path(env: gymnasium.Env) -> str:
    cls = type(env.unwrapped)
    return f"{cls.__module__}:{cls.__qualname__}"


def train_agent(
    agent: str,
    /,
    env: str | gymnasium.Env,
    *,
    eval_env: gymnasium.Env | None = None,
    save: bool = True,
    **overrides: Any,
) -> RunResult:
    """Train ``agent`` on ``env``: ``mbrlax train AGENT --env ENV ...`` from Python.

        result = mbrlax.train("pets", env=MyEnv(), episodes=10, num_particles=10)
        result.rows[-1]["eval_return"], result.run_dir, result.agent_state

    ``env`` is an id (Gymnasium or ``mbrlax/...``) or an env instance (a user's own, not
    registered anywhere). The run starts from the agent's preset for the env's id (its general
    defaults for an env without one); ``overrides`` set any field of the experiment
    (``seed``, ``run_dir``, ``model``, ``agent``, ``runner``), of the run's settings
    (``episodes``, ``warmup_steps``, ... of :class:`~mbrlax.training.config.RunnerConfig`) or
    of the agent's config (``num_particles``, ``planner``, ...), by name. It writes the same
    run directory as the CLI (``save=False``: none), and :func:`resume` continues it (an
    instance's run: ``resume(run_dir, env=MyEnv())``). Evaluation episodes of an instance run
    in ``eval_env``, by default a copy of ``env``.
    """
    entry = get_agent(agent)
    cls = EXPERIMENTS[entry.name]
    instance = None if isinstance(env, str) else env
    if instance is not None and not isinstance(instance, gymnasium.Env):
        raise EnvError(
            f"env must be an env id or a gymnasium.Env, got {type(env).__name__}; for a "
            "JAX-native env object, pass JaxGymEnv(jax_env)."
        )
    adapter = make_env(instance) if instance is not None else None
    env_id = env if instance is None else adapter.spec.env_id
    exp = with_overrides(cls.preset(env_id), overrides)
    exp.check(env=adapter)
    if getattr(exp, "runs", 1) > 1:
        raise ValueError(
            f"runs={exp.runs} trains the seeds as one compiled computation, which returns one "
            "result per seed: call mbrlax.training.experiment.run_many(exp) (or `mbrlax train "
            f"{entry.name} --runs {exp.runs}`); mbrlax.train runs one seed."
        )
    return run(exp, save=save, env=instance, eval_env=eval_env)


def with_overrides(exp: Experiment, overrides: dict[str, Any]) -> Experiment:
    """``exp`` with each override set on the experiment, its ``runner`` or its ``agent``
    config, whichever has a field of that name; ``ValueError`` naming the valid ones if
    none has (or if both the runner and the agent have it)."""
    own = {f.name for f in dataclasses.fields(exp)} - {"env"}
    exp = dataclasses.replace(exp, **{k: v for k, v in overrides.items() if k in own})
    runner_fields = {f.name for f in dataclasses.fields(exp.runner)}
    agent_fields = {f.name for f in dataclasses.fields(exp.agent)}
    runner, agent = {}, {}
    for name, value in overrides.items():
        if name in own:
            continue
        if name in runner_fields and name in agent_fields:
            raise ValueError(
                f"{name!r} is both a run setting and a {exp.entry.label} option; pass "
                f"runner=RunnerConfig(..., {name}=...) or agent={type(exp.agent).__name__}"
                f"(..., {name}=...) instead."
            )
        if name in runner_fields:
            runner[name] = value
        elif name in agent_fields:
            agent[name] = value
        else:
            valid = sorted(own | runner_fields | agent_fields)
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown option {name!r} for {exp.entry.name}; valid: {', '.join(valid)}.{hint}"
            )
    return dataclasses.replace(
        exp,
        runner=dataclasses.replace(exp.runner, **runner),
        agent=dataclasses.replace(exp.agent, **agent),
    )


def run_many(exp: Experiment) -> list[RunResult]:
    """``exp.runs`` runs of tabular Dyna on a JAX-native env as one compiled computation.

    Seeds ``exp.seed, exp.seed + 1, ...``; run ``k`` goes to ``<run_dir>/seed<k>``, a run
    directory like any other (config, metrics, learning curve, final model), holding what
    ``mbrlax train dyna-q --runs 1 --seed k`` would have written (see
    :func:`mbrlax.training.scan_loop.compiled_runs`). ``<run_dir>/learning_curve.png`` shows
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
        logger = RunLogger(single.run_dir, record, RUN_COLUMNS, tensorboard=False)
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


def resume(
    run_dir: str | Path,
    env: gymnasium.Env | None = None,
    eval_env: gymnasium.Env | None = None,
    **train_kwargs: Any,
) -> RunResult:
    """Continue the run in ``run_dir`` from its newest usable checkpoint, with the config it
    was started with; a finished run is left as it is and its rows returned. A run trained on
    an env instance (:func:`train_agent`) needs the instance again: ``env=MyEnv()``."""
    if not (Path(run_dir) / CONFIG_FILE).is_file():
        raise RunDirError(
            f"{run_dir} holds no run to resume (no {CONFIG_FILE}); start one with `mbrlax train`."
        )
    _check_instance_given(run_dir, env, "resume")
    exp = dataclasses.replace(load_experiment(run_dir), run_dir=Path(run_dir))
    return run(exp, resume=True, env=env, eval_env=eval_env, **train_kwargs)


def _check_instance_given(run_dir: str | Path, env: gymnasium.Env | None, what: str) -> None:
    """Raise :class:`RunDirError` if the run of ``run_dir`` trained on an env instance and
    none is given now (its id alone may name no env, or another one)."""
    instance = read_config(run_dir).get("env_instance")
    if instance and env is None:
        raise RunDirError(
            f"{run_dir} was trained on an env instance ({instance}), which mbrlax cannot make "
            f"from its name; {what} it from Python with the env again: "
            f"mbrlax.{what}({str(run_dir)!r}, env=...)."
        )


def _from_jsonable(cls: Any, value: Any) -> Any:
    """Rebuild a (nested) config dataclass from ``mbrlax.training.logger.to_jsonable`` output."""
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


def diagnostics_video_path(png: str | Path) -> Path:
    """Where :func:`diagnose` puts the open-loop video of a frame model: beside its PNG."""
    return Path(png).with_suffix(".mp4")


def diagnose(
    run_dir: str | Path,
    start: int = 0,
    horizon: int = 450,
    error_horizon: int = 100,
    seed: int = 54321,
    out: str | Path | None = None,
    context: int = 5,
) -> Path:
    """Picture how far the final model of a run can be trusted (PETS, MBPO, PlaNet, Dreamer).

    Plays one held-out episode (seed ``seed``) with the run's final policy. For an ensemble
    (PETS, MBPO), rolls it open-loop from the real state at step ``start`` along the episode's
    real actions for up to ``horizon`` steps: predicted mean +- one sigma against the truth, per
    state dimension, and the multi-step error for ``1 .. error_horizon`` steps ahead
    (normalised by the spread of the model's training data). For a latent world model (PlaNet,
    Dreamer), filters its latent state over ``context`` real observations from ``start``, then
    imagines up to ``horizon`` steps along the real actions: the real frames (or vectors)
    against the decoded ones, and the predicted rewards against the real ones. Saves
    ``<run_dir>/model_diagnostics.png`` (or ``out``) and returns its path; for frames also the
    same prediction as a video beside it (:func:`diagnostics_video_path`: real | imagined |
    difference).
    """
    from mbrlax.analysis.model_plots import (
        plot_latent_open_loop,
        plot_model_diagnostics,
        save_latent_open_loop_video,
    )
    from mbrlax.models.diagnostics import latent_open_loop, multistep_error, open_loop
    from mbrlax.models.rssm import RSSM

    run_dir = Path(run_dir)
    exp = load_experiment(run_dir)
    env = make_env(exp.env)
    try:
        agent = exp.make_agent(env.spec)
        model = getattr(agent, "model", None)
        if not isinstance(model, (ProbabilisticEnsemble, RSSM)):
            raise ValueError(
                f"{run_dir} is a {exp.algo} run, which learns no dynamics model; model "
                "diagnostics need a PETS, MBPO, PlaNet or Dreamer run."
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
    obs = jnp.asarray(np.stack([steps[0].obs] + [t.next_obs for t in steps]))
    actions = jnp.asarray(np.stack([t.action for t in steps]), jnp.float32)
    length = actions.shape[0]
    if isinstance(model, RSSM):
        if start + context >= length:
            raise ValueError(
                f"the held-out episode has {length} steps, so --start plus the {context} "
                f"steps of context must be below {length}."
            )
        horizon = min(horizon, length - start - context)
        rewards = jnp.asarray([t.reward for t in steps], jnp.float32)
        pred = latent_open_loop(
            model, state.model.nets, obs, actions, rewards, start, context, horizon,
            jax.random.key(seed + 1),
        )  # fmt: skip
        title = (
            f"{exp.algo} on {exp.env}: final model, {horizon} steps imagined open loop after "
            f"{context} observed from step {start} of a held-out episode"
        )
        png = plot_latent_open_loop(
            pred, out or run_dir / DIAGNOSTICS_FILE, first_step=start + context, title=title
        )
        if model.is_image:
            save_latent_open_loop_video(pred, diagnostics_video_path(png))
        return png
    obs = obs.astype(jnp.float32)
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


def evaluate(
    run_dir: str | Path, episodes: int = 5, seed: int = 12345, env: gymnasium.Env | None = None
) -> list[float]:
    """Returns of ``episodes`` episodes of the final agent saved in ``run_dir`` (in ``env``,
    an instance, for a run trained on one)."""
    run_dir = Path(run_dir)
    _check_instance_given(run_dir, env, "evaluate")
    exp = load_experiment(run_dir)
    play = make_env(exp.env) if env is None else make_env(env)
    try:
        agent = exp.make_agent(play.spec)
        key = jax.random.key(seed)
        key, init_key = jax.random.split(key)
        state, act = _final_agent(exp, agent, run_dir, init_key)
        returns = []
        for i in range(episodes):
            state = agent.begin_episode(state)

            def policy(obs):
                nonlocal state, key
                key, k = jax.random.split(key)
                action, state, _ = act(state, obs, k)
                return np.asarray(action)

            limit = play.spec.max_episode_steps or EVAL_STEP_LIMIT
            returns.append(run_episode(play, policy, seed + i, max_steps=limit)[0])
    finally:
        if env is None:
            play.close()
    return returns
