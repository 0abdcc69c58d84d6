"""Tree search with a known model: MCTS in closed loop, and its throughput.

1. Known-model MCTS on the JAX CartPole (``mbrlax/CartPole-v0``, Gymnasium CartPole-v1's
   physics, 500 steps): whole episodes compiled with ``mpc_rollout`` from several reset
   states, for each search setting: mean and worst return, episodes that held the pole for
   all 500 steps, milliseconds per action. Target: 500 with <= 32 simulations per step.
2. Throughput: simulations per second of one batched search over 64 CartPole states with 16
   and 64 simulations, leaves valued (a) by averaged random rollouts through the true model
   and (b) by a small value and prior network (4 -> 64 -> 64 -> 1 + 2, what AlphaZero's
   search evaluates), next to the float32 matmul peak measured in the same process.

    python benchmarks/search.py
    python benchmarks/search.py --seeds 5 --skip-throughput
    python benchmarks/search.py --skip-closed-loop
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs import as_step_fn, make_jax_env
from mbrlax.planners import MCTS

ENV = "mbrlax/CartPole-v0"

SETTINGS = {
    "muzero 16, rollouts 20 x 4": MCTS(num_simulations=16, rollout_depth=20, num_rollouts=4),
    "muzero 32, rollouts 50 x 4": MCTS(num_simulations=32, rollout_depth=50, num_rollouts=4),
    "gumbel 16, rollouts 50 x 4": MCTS(
        num_simulations=16, policy="gumbel_muzero", rollout_depth=50, num_rollouts=4
    ),
    "gumbel 32, rollouts 50 x 4": MCTS(
        num_simulations=32, policy="gumbel_muzero", rollout_depth=50, num_rollouts=4
    ),
}


def closed_loop(seeds: int) -> None:
    env = make_jax_env(ENV)
    steps = env.spec.max_episode_steps
    print(f"Known-model MCTS on {ENV} ({seeds} reset states, {steps} steps)")
    print(f"{'search':28} {'mean':>7} {'worst':>7} {'held 500':>9} {'ms/action':>10} "
          f"{'compile s':>10}")  # fmt: skip
    for name, cfg in SETTINGS.items():
        planner = cfg.build(env.spec.num_actions)

        def episode(key, planner=planner):
            state, _ = env.reset(key)
            return mpc_rollout(env, planner, state, key, steps).episode_return

        run = jax.jit(episode)
        keys = jax.random.split(jax.random.key(0), seeds)
        t0 = time.perf_counter()
        run(keys[0]).block_until_ready()
        compile_s = time.perf_counter() - t0
        returns, best = [], np.inf
        for k in keys:
            t0 = time.perf_counter()
            returns.append(float(run(k)))
            best = min(best, time.perf_counter() - t0)
        returns = np.array(returns)
        held = int(np.sum(returns >= steps))
        print(f"{name:28} {returns.mean():7.1f} {returns.min():7.1f} {held:>5d}/{seeds:<3d} "
              f"{1000 * best / steps:10.2f} {compile_s:10.1f}", flush=True)  # fmt: skip


def _mlp(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.zeros(b))
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _apply(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def throughput(batch: int = 64) -> None:
    env = make_jax_env(ENV)
    step = as_step_fn(env)
    states = jax.vmap(lambda k: env.reset(k)[0])(jax.random.split(jax.random.key(1), batch))
    net = _mlp(jax.random.key(2), (4, 64, 64, 3))  # value and 2 prior logits

    def value_fn(s):
        return _apply(net, env.observe(s))[0]

    def prior_fn(s):
        return _apply(net, env.observe(s))[1:]

    macs = 4 * 64 + 64 * 64 + 64 * 3
    peak = matmul_peak_gflops()
    print(f"\nthroughput: one search over {batch} states; float32 matmul peak in this "
          f"process {peak:.1f} GFLOP/s")  # fmt: skip
    print(f"{'leaves valued by':28} {'sims':>5} {'ms/search':>10} {'sims/s':>10} "
          f"{'net GFLOP/s':>12} {'of peak':>8}")  # fmt: skip
    for label, kwargs, cfg_kw in (
        ("rollouts 50 x 4", {}, dict(rollout_depth=50, num_rollouts=4)),
        ("value + prior network", dict(value_fn=value_fn, prior_fn=prior_fn), {}),
    ):
        for sims in (16, 64):
            planner = MCTS(num_simulations=sims, **cfg_kw).build(2, **kwargs)
            search = jax.jit(jax.vmap(lambda s, k, p=planner: p.plan(p.init(), step, s, k)[0]))
            keys = jax.random.split(jax.random.key(3), batch)
            search(states, keys).block_until_ready()
            best = np.inf
            for i in range(5):
                keys = jax.random.split(jax.random.key(4 + i), batch)
                t0 = time.perf_counter()
                search(states, keys).block_until_ready()
                best = min(best, time.perf_counter() - t0)
            rate = batch * sims / best
            if kwargs:
                # Each simulation evaluates the network twice (value, prior) at its new leaf.
                gflops = 2 * 2 * macs * rate / 1e9
                columns = f"{gflops:12.3f} {gflops / peak:8.4f}"
            else:
                columns = f"{'-':>12} {'-':>8}"
            print(f"{label:28} {sims:5d} {1000 * best:10.2f} {rate:10.0f} {columns}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-closed-loop", action="store_true")
    args = parser.parse_args()
    if not args.skip_closed_loop:
        closed_loop(args.seeds)
    if not args.skip_throughput:
        throughput()


if __name__ == "__main__":
    main()
