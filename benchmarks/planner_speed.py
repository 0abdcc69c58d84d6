"""CEM planning speed through a probabilistic ensemble, as a fraction of this CPU's matmul peak.

Reference workload: mbrl-lib's PETS cart-pole default (ensemble of 7, 4 hidden layers of 200
SiLU units, population 350, 20 particles, horizon 15, 5 CEM iterations, obs 4 + act 1). Also a
small Pendulum-sized workload (the Pendulum-v1 preset), as in evaluation episodes and as in
training episodes with a learned reward, which also pay for the elites' disagreement (every
elite predicts from one extra state per step: 5 more rows beside the 5 particles). The float32
matmul peak is measured in the same process, so the ratio is meaningful on a shared, noisy
machine. The table ends with the ceiling of the same forward passes written by hand without any
planner, which shows how much of the gap to the peak is the planner's and how much the matmul
shapes' and SiLU's. Every time is the best of ``--repeats`` calls, the least disturbed one on a
shared machine, for the peak, the planner and the ceiling alike; the median ms per action is
printed beside it.

The table goes to ``benchmarks/results/planner_speed.json`` (tables ``speed`` and
``ceiling``); ``--json`` only prints.

    python benchmarks/planner_speed.py            # a table
    python benchmarks/planner_speed.py --json     # one JSON object (reference workload)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.pets import PETS, PETSConfig
from mbrlax.agents.pets.presets import PENDULUM
from mbrlax.envs.spec import EnvSpec
from mbrlax.models.ensemble import EnsembleConfig
from mbrlax.planners import CEM
from mbrlax.training.bench import Table, add_results_argument, write_results


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    obs_dim: int
    action_dim: int
    config: PETSConfig


REFERENCE = Workload(
    "reference (mbrl-lib PETS cart-pole)",
    4,
    1,
    PETSConfig(
        model=EnsembleConfig(num_members=7, num_elites=7, hidden_sizes=(200, 200, 200, 200)),
        planner=CEM(horizon=15, population=350, num_elites=35, iterations=5),
        propagation="ts1",
        num_particles=20,
    ),
)
PENDULUM_WORKLOAD = Workload("pendulum preset", 3, 1, PENDULUM[0])
EXPLORING_WORKLOAD = Workload(
    "pendulum preset, training step with the exploration bonus",
    3,
    1,
    dataclasses.replace(PENDULUM[0], exploration_bonus=1.0),
)


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` float32 GFLOP/s of an n x n matmul on the default device."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def mlp_flops_per_action(w: Workload) -> float:
    """Useful multiply-add FLOPs of the ensemble forward passes in one planning call."""
    cfg = w.config
    out = w.obs_dim * (2 if cfg.model.probabilistic else 1)
    sizes = (w.obs_dim + w.action_dim, *cfg.model.hidden_sizes, out)
    per_row = sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    particles = 1 if cfg.propagation == "expectation" else cfg.num_particles
    if cfg.exploration_bonus and cfg.propagation != "expectation":
        particles += cfg.model.num_elites  # every elite's prediction at the reference state
    p = cfg.planner
    rows = p.population * particles * p.horizon * p.iterations
    return per_row * rows


def bare_forward_chain(w: Workload, silu: bool = True, repeats: int = 5) -> float:
    """GFLOP/s of the same ensemble forward passes written by hand, without a planner.

    One matmul chain per elite on its block of rows (as the planner's TS1 propagation does),
    iterated ``horizon * iterations`` times in a ``scan``: the ceiling that this CPU's XLA
    reaches on these matmul shapes, against which the planner's own overhead can be read.
    """
    cfg = w.config
    out = w.obs_dim * (2 if cfg.model.probabilistic else 1)
    sizes = (w.obs_dim + w.action_dim, *cfg.model.hidden_sizes, out)
    base, extra = divmod(cfg.num_particles, cfg.model.num_elites)
    rows = [cfg.planner.population * (base + (k < extra)) for k in range(cfg.model.num_elites)]
    keys = iter(jax.random.split(jax.random.key(0), len(rows) * len(sizes)))
    nets = [
        [
            (0.05 * jax.random.normal(next(keys), (a, b)), jnp.full((b,), 0.01))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        for _ in rows
    ]

    def forward(net, x):
        for j, (weight, bias) in enumerate(net):
            x = x @ weight + bias
            if silu and j < len(net) - 1:
                x = jax.nn.silu(x)
        return x

    @jax.jit
    def run(xs):
        def body(xs, _):
            return [
                x + 1e-3 * forward(net, x)[:, : x.shape[1]] for net, x in zip(nets, xs, strict=True)
            ], None

        return jax.lax.scan(body, xs, None, length=cfg.planner.horizon * cfg.planner.iterations)[0]

    xs = [jnp.ones((r, sizes[0])) for r in rows]
    jax.block_until_ready(run(xs))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(run(xs))
        best = min(best, time.perf_counter() - t)
    return mlp_flops_per_action(w) / best / 1e9


def measure(w: Workload, repeats: int = 5) -> dict[str, float]:
    spec = EnvSpec(
        env_id="benchmark",
        obs_shape=(w.obs_dim,),
        action_kind="continuous",
        action_shape=(w.action_dim,),
        action_low=(-1.0,) * w.action_dim,
        action_high=(1.0,) * w.action_dim,
    )

    # Benchmark with a known, cheap reward so the model's forward passes dominate.
    from mbrlax.envs.tasks import TaskFunctions

    task = TaskFunctions(
        reward=lambda o, a, n: -jnp.sum(n**2) - 0.01 * jnp.sum(a**2),
        termination=lambda o, a, n: jnp.array(False),
        reward_exact=True,
        note="benchmark",
    )
    agent = PETS(w.config, spec, task)
    # Evaluation episodes plan on the reward alone; training ones add the exploration bonus.
    act = agent.act if agent.config.exploration_bonus > 0 else agent.act_eval
    state = agent.init(jax.random.key(0))
    obs = jnp.zeros(w.obs_dim)
    t = time.perf_counter()
    action, state, _ = act(state, obs, jax.random.key(1))
    action.block_until_ready()
    compile_s = time.perf_counter() - t
    times = []
    for i in range(repeats):  # the best call is the least disturbed on a shared machine
        t = time.perf_counter()
        action, state, _ = act(state, obs, jax.random.key(2 + i))
        action.block_until_ready()
        times.append(time.perf_counter() - t)
    seconds = min(times)
    flops = mlp_flops_per_action(w)
    return {
        "ms_per_action": 1000 * seconds,
        "ms_per_action_median": 1000 * float(np.median(times)),
        "gflops": flops / seconds / 1e9,
        "compile_seconds": compile_s,
        "gflop_per_action": flops / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    add_results_argument(parser)
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    ref = measure(REFERENCE, args.repeats)
    peak = max(peak, matmul_peak_gflops())  # measured again after, the better of the two
    if args.json:
        print(json.dumps({**ref, "peak_gflops": peak, "fraction_of_peak": ref["gflops"] / peak}))
        return
    small = measure(PENDULUM_WORKLOAD, args.repeats)
    exploring = measure(EXPLORING_WORKLOAD, args.repeats)
    print(f"device: {jax.devices()[0].device_kind}, float32 matmul peak {peak:.1f} GFLOP/s")
    header = (
        f"{'workload':38s} {'ms/action':>10s} {'median':>7s} {'GFLOP/act':>10s} {'GFLOP/s':>8s} "
        f"{'fraction_of_peak':>16s} {'compile s':>9s}"
    )
    print(header)
    speed = []
    plain = ((REFERENCE.name, ref), (PENDULUM_WORKLOAD.name, small))
    for name, r in (*plain, (EXPLORING_WORKLOAD.name, exploring)):
        print(
            f"{name:38s} {r['ms_per_action']:10.1f} {r['ms_per_action_median']:7.1f} "
            f"{r['gflop_per_action']:10.2f} "
            f"{r['gflops']:8.1f} {r['gflops'] / peak:16.2f} {r['compile_seconds']:9.1f}"
        )
        speed.append([
            name, round(r["ms_per_action"], 1), round(r["ms_per_action_median"], 1),
            round(r["gflop_per_action"], 2), round(r["gflops"], 1),
            round(r["gflops"] / peak, 2), round(r["compile_seconds"], 1),
        ])  # fmt: skip
    print()
    print("Ceiling: the reference workload's forward passes alone (no planner), same shapes:")
    ceiling = []
    for silu in (True, False):
        g = bare_forward_chain(REFERENCE, silu=silu, repeats=args.repeats)
        what = "matmuls + SiLU" if silu else "matmuls only, no activation"
        print(f"  {what:38s} {g:8.1f} GFLOP/s, fraction_of_peak {g / peak:.2f}")
        ceiling.append([what, round(g, 1), round(g / peak, 2)])
    tables = {
        "speed": Table.of(
            ["CEM planning through an ensemble", "ms / action (best)", "median ms",
             "GFLOP / action", "GFLOP/s", "fraction of matmul peak", "compile s"],
            speed,
        ),
        "ceiling": Table.of(
            ["the reference's forward passes alone, no planner", "GFLOP/s",
             "fraction of matmul peak"],
            ceiling,
        ),
    }  # fmt: skip
    extra = {"peak_gflops": round(peak, 1), "repeats": args.repeats}
    write_results("planner_speed", tables, extra=extra, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
