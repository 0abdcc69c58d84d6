"""Physics models with system identification, and physics plus a learned residual.

a. System identification from noisy transitions: the kinematic bicycle's wheelbase ``L``
   and rear-axle-to-centre-of-mass ``l_r``, and a damped pendulum's mass, length and damping,
   from a bad initial guess; fitted values, standard errors and relative errors.
b. Mis-specified physics: the "real" pendulum is damped (and heavier) while the physics
   model knows no damping (m and length fitted). Open-loop multi-step prediction error on
   held-out trajectories of physics alone, a neural ensemble alone, and physics + ensemble
   residual (semi-parametric), all fitted to the same data.
c. MPC (CEM) on the real pendulum with each of the three models, and with the real
   system itself as a reference. The horizon is 40 steps (2 s): with 20, CEM through the
   real system is myopic (no swing-up of the damped pendulum completes within 1 s, so it
   barely tries), and the undamped model's optimism then *helps* (it tries, and succeeds),
   which would hide what model error costs.

Everything is seeded: rerunning prints the same tables (up to XLA's float reordering). They
go to ``benchmarks/results/physics_models.json`` (tables ``sysid``, ``sysid_repeats``,
``open_loop_rmse`` and ``mpc``, for the parts that ran).

    python benchmarks/physics_models.py            # about 6 minutes on 2 shared CPU cores
    python benchmarks/physics_models.py --quick    # a smoke run, about 2.5 minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.data.buffer import Transition
from mbrlax.envs.bicycle import Bicycle
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.envs.tasks import never_terminates, pendulum_reward
from mbrlax.models.ensemble import EnsembleConfig, ProbabilisticEnsemble
from mbrlax.models.physics import BicyclePhysics, PendulumPhysics
from mbrlax.models.semiparametric import SemiParametricModel
from mbrlax.planners import CEM
from mbrlax.training.bench import Table, add_results_argument, write_results

STEPS = 200  # pendulum episode length
HORIZONS = (1, 10, 50)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one run does (``--quick`` shrinks it).

    Attributes:
        sysid_rows: noisy transitions per system identification (part a).
        sysid_repeats: independent datasets refitted to measure the estimates' spread (a).
        noise: std of the Gaussian noise on every entry of obs and next_obs (part a).
        real_mass: mass of the real pendulum (parts b, c).
        real_damping: viscous damping of the real pendulum (parts b, c).
        random_episodes: training episodes under uniformly random torques (parts b, c).
        controller_episodes: training episodes under CEM with the nominal (undamped,
            textbook-constant) physics, which swing the pendulum up (parts b, c).
        heldout_episodes: held-out episodes of each kind, from other starts (part b).
        ensemble: the neural ensemble, alone and as the residual (parts b, c).
        planner: CEM for data collection (through the nominal model) and control (part c).
        mpc_starts: reset states of the MPC episodes (part c).
    """

    sysid_rows: int = 500
    noise: float = 0.01
    sysid_repeats: int = 20
    real_mass: float = 1.3
    real_damping: float = 0.2
    random_episodes: int = 10
    controller_episodes: int = 5
    heldout_episodes: int = 4
    ensemble: EnsembleConfig = EnsembleConfig(
        num_members=5, num_elites=3, hidden_sizes=(64, 64), max_epochs=200, patience=10
    )
    planner: CEM = CEM(horizon=40, population=200, num_elites=20, iterations=4)
    mpc_starts: int = 8


QUICK = Settings(
    sysid_repeats=5,
    random_episodes=4,
    controller_episodes=2,
    heldout_episodes=2,
    ensemble=EnsembleConfig(
        num_members=3, num_elites=2, hidden_sizes=(32, 32), max_epochs=50, patience=5
    ),
    planner=CEM(horizon=30, population=100, num_elites=10, iterations=3),
    mpc_starts=2,
)


def _timed(label: str, fn: Callable[[], None]) -> None:
    start = time.perf_counter()
    fn()
    print(f"\n[{label}: {time.perf_counter() - start:.1f} s wall]\n")


# ---- a. system identification ----------------------------------------------------------------


def _noisy(data: Transition, noise: float, key) -> Transition:
    k_obs, k_next = jax.random.split(key)
    return data._replace(
        obs=data.obs + noise * jax.random.normal(k_obs, data.obs.shape),
        next_obs=data.next_obs + noise * jax.random.normal(k_next, data.next_obs.shape),
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _bicycle_transitions(env: Bicycle, n: int, key, full_lock: bool = False) -> Transition:
    """One step from each of ``n`` reset poses (on the centre line at a uniform arc length,
    heading along it +-0.1 rad, lateral offset +-0.1 m) with a uniform steering angle, under
    a uniform action within the bounds.

    ``full_lock``: an informative experiment instead, every step at full speed with the
    steering angle at full lock (either side; the steering rate still uniform). ``l_r`` is
    seen only through the slip angle ``beta = atan(l_r / L tan(delta))``, the direction of
    the step's displacement against the heading; both its size (``v dt``) and its sensitivity
    to ``l_r`` (``~ tan(delta) / L``) are largest there.
    """
    k_reset, k_delta, k_action = jax.random.split(key, 3)
    state, obs = jax.vmap(env.reset)(jax.random.split(k_reset, n))
    low, high = env.spec.action_bounds()
    if full_lock:
        delta = env.max_steer * jnp.where(jax.random.bernoulli(k_delta, 0.5, (n,)), 1.0, -1.0)
        rate = jax.random.uniform(k_action, (n,), minval=low[1], maxval=high[1])
        action = jnp.stack([jnp.full((n,), high[0]), rate], axis=-1)
    else:
        delta = jax.random.uniform(k_delta, (n,), minval=-env.max_steer, maxval=env.max_steer)
        action = jax.random.uniform(k_action, (n, 2), minval=low, maxval=high)
    state = state._replace(delta=delta)
    out = jax.vmap(env.step)(state, action)
    return Transition(jax.vmap(env.observe)(state), action, out.reward, out.obs, out.terminated)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _pendulum_transitions(env: Pendulum, n: int, key) -> Transition:
    """One step from each of ``n`` states ``th ~ U(-pi, pi)``, ``th_dot ~ U(-6, 6)`` under a
    torque ``~ U(-2, 2)``."""
    k_th, k_thdot, k_u = jax.random.split(key, 3)
    state = PendulumState(
        jax.random.uniform(k_th, (n,), minval=-jnp.pi, maxval=jnp.pi),
        jax.random.uniform(k_thdot, (n,), minval=-6.0, maxval=6.0),
    )
    action = jax.random.uniform(k_u, (n, 1), minval=-2.0, maxval=2.0)
    out = jax.vmap(env.step)(state, action)
    return Transition(jax.vmap(env.observe)(state), action, out.reward, out.obs, out.terminated)


def _markdown_row(values: list) -> str:
    return "| " + " | ".join("" if v is None else str(v) for v in values) + " |"


def _sysid_rows(system: str, model, data: Transition, true: dict[str, float]) -> list[list]:
    """Per parameter: system, name, true, initial guess, fitted, standard error, rel. error."""
    params, _ = model.fit(model.init(None), data, data.obs.shape[0], None)
    fitted, se = model.named(params), model.standard_errors(params)
    rows = []
    for name, value in true.items():
        rel = (fitted[name] - value) / value
        rows.append(
            [
                system,
                name,
                f"{value:.4f}",
                f"{getattr(model, name):.4f}",
                f"{fitted[name]:.4f}",
                f"{se[name]:.4f}",
                f"{100 * rel:+.2f}%",
            ]
        )
    noise_std = np.sqrt(np.asarray(params.noise_var))
    rows.append(
        [
            system,
            "(residual std per obs dim)",
            None,
            None,
            " ".join(f"{s:.4f}" for s in noise_std),
            None,
            None,
        ]
    )
    return rows


def _repeated_sysid(model, datasets: Transition, true: dict[str, float]) -> list[list]:
    """Fits to independent datasets (leading axis R): how often each estimate is within 2%,
    its RMS relative error, and the reported standard error against the actual spread."""
    fit = jax.jit(jax.vmap(model.fit, in_axes=(None, 0, None, None)))
    params, _ = fit(model.init(None), datasets, datasets.obs.shape[1], None)
    values = np.asarray(params.values)  # [R, P]
    se = np.sqrt(np.diagonal(np.asarray(params.cov), axis1=1, axis2=2))
    rows = []
    for i, name in enumerate(model.fitted):
        rel = (values[:, i] - true[name]) / true[name]
        within, rms = np.mean(np.abs(rel) <= 0.02), 100 * np.sqrt(np.mean(rel**2))
        spread = np.std(values[:, i], ddof=1)
        rows.append(
            [
                name,
                f"{within:.0%}",
                f"{rms:.2f}%",
                f"{100 * np.mean(rel):+.2f}%",
                f"{np.mean(se[:, i]):.4f}",
                f"{spread:.4f}",
            ]
        )
    return rows


def part_a(s: Settings, tables: dict[str, Table]) -> None:
    print("## a. System identification (Levenberg-Marquardt on one-step squared error)\n")
    print(
        f"{s.sysid_rows} transitions per system; noise model: independent Gaussian noise of std "
        f"{s.noise} on every entry of obs and next_obs (cos/sin included)."
    )
    print(
        "Bicycle: one step from each of the env's reset poses (uniform arc length, heading "
        "+-0.1 rad, offset +-0.1 m) with steering angle ~ U(-0.6, 0.6), action uniform within "
        "the bounds (v in [0, 3] m/s, r in [-1.5, 1.5] rad/s). Bicycle, full lock: the same "
        "poses at full speed (3 m/s) and full steering angle (+-0.6 rad), r uniform."
    )
    print("Pendulum (damped): one step from th ~ U(-pi, pi), th_dot ~ U(-6, 6) under u ~ U(-2, 2).")
    print("Initial guesses are 30% off; standard errors from the fit's sandwich covariance.\n")
    systems = [
        (
            "bicycle",
            {"wheelbase": 1.2, "rear_to_cm": 0.45},
            lambda true, n, key: _bicycle_transitions(Bicycle(**true), n, key),
            BicyclePhysics(wheelbase=1.2 * 0.7, rear_to_cm=0.45 * 1.3),
        ),
        (
            "bicycle, full lock",
            {"wheelbase": 1.2, "rear_to_cm": 0.45},
            lambda true, n, key: _bicycle_transitions(Bicycle(**true), n, key, True),
            BicyclePhysics(wheelbase=1.2 * 0.7, rear_to_cm=0.45 * 1.3),
        ),
        (
            "pendulum",
            {"m": 1.2, "length": 0.8, "damping": 0.05},
            lambda true, n, key: _pendulum_transitions(Pendulum(**true), n, key),
            PendulumPhysics(m=1.2 * 1.3, length=0.8 * 0.7, damping=0.05 * 1.3),
        ),
    ]

    def dataset(make, true, n, key):
        return _noisy(make(true, n, key), s.noise, jax.random.fold_in(key, 1))

    columns = ["system", "parameter", "true", "initial guess", "fitted", "std. error", "rel. error"]
    print(_markdown_row(columns))
    print("|---" * len(columns) + "|")
    sysid = []
    for i, (system, true, make, model) in enumerate(systems):
        data = dataset(make, true, s.sysid_rows, jax.random.key(i))
        for row in _sysid_rows(system, model, data, true):
            print(_markdown_row(row))
            sysid.append(row)
    tables["sysid"] = Table.of(columns, sysid)
    print(
        f"\nRefits to {s.sysid_repeats} independent datasets of the same kind (their spread is "
        f"what the standard error predicts), with {s.sysid_rows} and {4 * s.sysid_rows} "
        "transitions:\n"
    )
    columns = [
        "system",
        "transitions",
        "parameter",
        "within 2%",
        "RMS rel. error",
        "mean rel. error",
        "mean std. error",
        "std of estimates",
    ]
    print(_markdown_row(columns))
    print("|---" * len(columns) + "|")
    repeats = []
    for i, (system, true, make, model) in enumerate(systems):
        for n in (s.sysid_rows, 4 * s.sysid_rows):
            keys = jax.random.split(jax.random.key(100 + i), s.sysid_repeats)
            datasets = jax.tree.map(
                lambda *xs: jnp.stack(xs), *(dataset(make, true, n, k) for k in keys)
            )
            for row in _repeated_sysid(model, datasets, true):
                print(_markdown_row([system, n, *row]))
                repeats.append([system, n, *row])
    tables["sysid_repeats"] = Table.of(columns, repeats)


# ---- b. mis-specified physics: multi-step prediction ------------------------------------------


def _obs_step(model, params) -> Callable:
    """``(obs, action) -> next_obs``: the model's mean step."""

    def step(obs, action):
        return model.expected_step(params, obs, action, pendulum_reward, never_terminates)[0]

    return step


def _state_step(env: Pendulum, model, params) -> Callable:
    """The planners' ``step`` on env states through the model's mean step on observations."""

    def step(state, action, key):
        del key
        obs = env.observe(state)
        next_obs, reward, done = model.expected_step(
            params, obs, action, pendulum_reward, never_terminates
        )
        return env.state_from_obs(next_obs), reward, done

    return step


def _episodes(env: Pendulum, planner, model, params, keys, steps: int = STEPS):
    """Closed-loop MPC episodes on ``env`` planning through ``model`` (``None``: the env
    itself); returns (obs [N, T+1, d], actions [N, T, A], returns [N])."""

    def episode(key):
        start, _ = env.reset(key)
        step = None if model is None else _state_step(env, model, params)
        traj = mpc_rollout(env, planner, start, key, steps, step)
        return jax.vmap(env.observe)(traj.states), traj.actions, traj.episode_return

    return jax.jit(jax.vmap(episode))(keys)


@functools.partial(jax.jit, static_argnums=(0,))
def _random_episodes(env: Pendulum, keys):
    """Episodes under uniformly random torques: (obs [N, T+1, d], actions [N, T, A])."""

    def episode(key):
        key_reset, key_actions = jax.random.split(key)
        start, obs0 = env.reset(key_reset)
        actions = jax.random.uniform(key_actions, (STEPS, 1), minval=-2.0, maxval=2.0)

        def body(state, action):
            out = env.step(state, action)
            return out.state, out.obs

        _, obs = jax.lax.scan(body, start, actions)
        return jnp.concatenate([obs0[None], obs]), actions

    return jax.vmap(episode)(keys)


def _transitions(obs, actions) -> Transition:
    """Flatten episodes ``obs [N, T+1, d], actions [N, T, A]`` into a Transition."""
    d, a = obs.shape[-1], actions.shape[-1]
    n = actions.shape[0] * actions.shape[1]
    return Transition(
        obs=obs[:, :-1].reshape(n, d),
        action=actions.reshape(n, a),
        reward=jnp.zeros((n,)),
        next_obs=obs[:, 1:].reshape(n, d),
        terminated=jnp.zeros((n,), bool),
    )


def _open_loop_rmse(step: Callable, obs, actions, stride: int = 10) -> np.ndarray:
    """RMSE of the open-loop rollout's obs at each horizon of ``HORIZONS``, over all dims and
    start times ``0, stride, ...`` of a trajectory, averaged over trajectories; ``[len(H)]``."""
    h_max = max(HORIZONS)
    starts = np.arange(0, actions.shape[1] - h_max + 1, stride)

    def rollout(obs0, acts):
        return jax.lax.scan(lambda o, a: (step(o, a),) * 2, obs0, acts)[1]  # [h_max, d]

    def trajectory(obs_t, act_t):
        windows = jax.vmap(lambda t0: jax.lax.dynamic_slice_in_dim(act_t, t0, h_max))(starts)
        pred = jax.vmap(rollout)(obs_t[starts], windows)  # [S, h_max, d]
        true = jax.vmap(lambda t0: jax.lax.dynamic_slice_in_dim(obs_t, t0 + 1, h_max))(starts)
        sq = jnp.square(pred - true)
        return jnp.sqrt(jnp.stack([jnp.mean(sq[:, h - 1]) for h in HORIZONS]))

    return np.asarray(jax.jit(jax.vmap(trajectory))(obs, actions).mean(0))


def _fit_models(s: Settings, data: Transition, key):
    """Physics alone (m, length fitted, no damping), the ensemble alone, physics + residual;
    returns {name: (model, params)} and the fit metrics."""
    physics = PendulumPhysics(fitted=("m", "length"))
    ensemble = ProbabilisticEnsemble(s.ensemble, obs_dim=3, action_dim=1)
    semi = SemiParametricModel(physics, ensemble)
    n = data.obs.shape[0]
    k_ens, k_semi = jax.random.split(key)
    physics_params, physics_metrics = physics.fit(physics.init(None), data, n, None)
    ens_params, ens_metrics = ensemble.fit(ensemble.init(k_ens), data, n, k_ens)
    semi_params, semi_metrics = semi.fit(semi.init(k_semi), data, n, k_semi)
    models = {
        "physics (sysid, no damping)": (physics, physics_params),
        "neural ensemble": (ensemble, ens_params),
        "semi-parametric": (semi, semi_params),
    }
    return models, (physics_metrics, ens_metrics, semi_metrics)


def _real_system(s: Settings) -> Pendulum:
    return Pendulum(m=s.real_mass, damping=s.real_damping)


def _training_data(s: Settings, real: Pendulum, key) -> tuple[Transition, Transition]:
    """(training transitions, held-out trajectories as (obs, actions))."""
    k_random, k_ctrl, k_heldout = jax.random.split(key, 3)
    nominal = PendulumPhysics()  # textbook constants, no damping: the controller's model
    planner = s.planner.build_for(real.spec)
    obs_r, act_r = _random_episodes(real, jax.random.split(k_random, s.random_episodes))
    obs_c, act_c, ret_c = _episodes(
        real, planner, nominal, nominal.init(None), jax.random.split(k_ctrl, s.controller_episodes)
    )
    data = Transition(
        *(
            jnp.concatenate([a, b])
            for a, b in zip(_transitions(obs_r, act_r), _transitions(obs_c, act_c), strict=True)
        )
    )
    k_hr, k_hc = jax.random.split(k_heldout)
    obs_hr, act_hr = _random_episodes(real, jax.random.split(k_hr, s.heldout_episodes))
    obs_hc, act_hc, _ = _episodes(
        real, planner, nominal, nominal.init(None), jax.random.split(k_hc, s.heldout_episodes)
    )
    heldout = (jnp.concatenate([obs_hr, obs_hc]), jnp.concatenate([act_hr, act_hc]))
    print(
        f"Training data: {s.random_episodes} random-torque episodes + {s.controller_episodes} "
        f"episodes of CEM through the nominal model (undamped, m = l = 1; mean return "
        f"{float(ret_c.mean()):.0f}), {STEPS} steps each: {data.obs.shape[0]} noiseless "
        f"transitions. Held out: {s.heldout_episodes} + {s.heldout_episodes} episodes of the "
        "same kinds from other reset states."
    )
    return data, heldout


def part_b(s: Settings, state: dict, tables: dict[str, Table]) -> None:
    real = _real_system(s)
    print("## b. Mis-specified physics: open-loop multi-step prediction\n")
    print(
        f"Real system: pendulum with m = {s.real_mass}, l = 1, damping = {s.real_damping} "
        "(viscous torque -damping th_dot). Physics model: PendulumPhysics with damping fixed "
        "at 0, m and length fitted (initial guess 1, 1)."
    )
    data, heldout = _training_data(s, real, jax.random.key(1))
    models, (pm, em, sm) = _fit_models(s, data, jax.random.key(2))
    cfg = s.ensemble
    print(
        f"Ensemble (alone and as the residual): {cfg.num_members} members, {cfg.num_elites} "
        f"elites, hidden {cfg.hidden_sizes}, {cfg.activation}, probabilistic (NLL), Adam "
        f"{cfg.learning_rate}, batch {cfg.batch_size}, <= {cfg.max_epochs} epochs, early "
        f"stopping (patience {cfg.patience}) on a {cfg.holdout_ratio:.0%} holdout."
    )
    physics, physics_params = models["physics (sysid, no damping)"]
    named = physics.named(physics_params)
    se = physics.standard_errors(physics_params)
    print(
        f"Sysid without damping: m = {named['m']:.3f} +- {se['m']:.3f}, length = "
        f"{named['length']:.3f} +- {se['length']:.3f} (true {s.real_mass}, 1.0: biased, the "
        f"damping is missing); one-step MSE {float(pm['model_train_loss']):.2e}; semi-"
        f"parametric one-step MSE {float(sm['model_train_loss']):.2e}; ensemble epochs "
        f"{int(em['epochs'])} (alone), {int(sm['residual_epochs'])} (residual).\n"
    )
    header = " | ".join(f"h = {h}" for h in HORIZONS)
    print(
        f"Open-loop RMSE of obs [cos th, sin th, th_dot] along held-out actions, mean over "
        f"{2 * s.heldout_episodes} trajectories (starts every 10 steps):\n"
    )
    print(f"| model | {header} |")
    print("|---|" + "---|" * len(HORIZONS))
    rows = []
    for name, (model, params) in models.items():
        rmse = _open_loop_rmse(_obs_step(model, params), *heldout)
        print(f"| {name} | " + " | ".join(f"{r:.4f}" for r in rmse) + " |")
        rows.append([name, *(round(float(r), 4) for r in rmse)])
    tables["open_loop_rmse"] = Table.of(["model", *(f"h = {h}" for h in HORIZONS)], rows)
    state["models"] = models


# ---- c. MPC on the real system ---------------------------------------------------------------


def part_c(s: Settings, state: dict, tables: dict[str, Table]) -> None:
    real = _real_system(s)
    planner = s.planner.build_for(real.spec)
    p = s.planner
    print("## c. MPC on the real (damped) pendulum\n")
    print(
        f"CEM (horizon {p.horizon}, population {p.population}, {p.num_elites} elites, "
        f"{p.iterations} iterations) through each model's mean step with the exact pendulum "
        f"reward; {s.mpc_starts} reset states (the same for every model), {STEPS} steps.\n"
    )
    keys = jax.random.split(jax.random.key(3), s.mpc_starts)
    print("| model | mean return | std | worst | best | wall s |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("real system (oracle)", None, None),
        *((n, m, p) for n, (m, p) in state["models"].items()),
    ]
    table = []
    for name, model, params in rows:
        start = time.perf_counter()
        _, _, returns = _episodes(real, planner, model, params, keys)
        returns = np.asarray(returns)
        wall = time.perf_counter() - start
        print(
            f"| {name} | {returns.mean():.1f} | {returns.std():.1f} | {returns.min():.1f} | "
            f"{returns.max():.1f} | {wall:.0f} |"
        )
        table.append(
            [
                name,
                *(round(float(f(returns)), 1) for f in (np.mean, np.std, np.min, np.max)),
                round(wall),
            ]
        )
    tables["mpc"] = Table.of(["model", "mean return", "std", "worst", "best", "wall s"], table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, faster smoke run")
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. 'a' or 'bc'")
    parser.add_argument("--damping", type=float, default=None, help="real system's damping")
    parser.add_argument("--mass", type=float, default=None, help="real system's mass")
    add_results_argument(parser)
    args = parser.parse_args()
    s = QUICK if args.quick else Settings()
    if args.damping is not None:
        s = dataclasses.replace(s, real_damping=args.damping)
    if args.mass is not None:
        s = dataclasses.replace(s, real_mass=args.mass)
    total = time.perf_counter()
    state: dict = {}
    tables: dict[str, Table] = {}
    if "a" in args.parts:
        _timed("part a", lambda: part_a(s, tables))
    if "b" in args.parts or "c" in args.parts:
        _timed("part b", lambda: part_b(s, state, tables))
    if "c" in args.parts:
        _timed("part c", lambda: part_c(s, state, tables))
    print(f"[total: {time.perf_counter() - total:.1f} s wall]")
    extra = {"settings": dataclasses.asdict(s), "parts": args.parts}
    write_results("physics_models", tables, extra=extra, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
