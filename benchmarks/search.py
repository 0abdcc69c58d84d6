"""Tree search with a known model: MCTS in closed loop, and its throughput.

1. Known-model MCTS on the JAX CartPole (``mbrlax/CartPole-v0``, Gymnasium CartPole-v1's
   physics, 500 steps): whole episodes compiled with ``mpc_rollout`` from ``--reset-states``
   reset states, for each search setting: mean and worst return, episodes that held the pole for
   all 500 steps, milliseconds per action. Target: 500 with <= 32 simulations per step.
2. AlphaZero on the same CartPole (``mbrlax train alphazero``'s preset: 16 simulations, leaves
   valued and priors given by a policy-value network trained on reanalysed search targets;
   ``--discount`` replaces the preset's search discount, 0.997): per training seed, env steps
   until the first evaluation episode holds 500 steps, wall time; then the trained network's
   search (16 and 32 simulations, no noise) from the same reset states as 1., and the network
   alone (its prior's most likely action, no search).
3. MuZero on Gymnasium's CartPole-v1 (``mbrlax train muzero``'s preset: 16 simulations
   through the learned latent model, evaluations of 10 episodes after every 10 training
   episodes): per training seed, env steps until the mean of an evaluation reaches 475
   (target: within 50,000), the evaluations after it, wall time; then the learned model
   unrolled along an evaluation episode's actions against the rewards the env gave.
4. Throughput: simulations per second of one batched search over 64 CartPole states with 16
   and 64 simulations, leaves valued (a) by averaged random rollouts through the true model
   and (b) by a small value and prior network (4 -> 64 -> 64 -> 1 + 2, what AlphaZero's
   search evaluates), next to the float32 matmul peak measured in the same process.

AlphaZero and MuZero train one run per ``--train-seeds`` seed, each a trial of ``mbrlax
sweep`` (Ray when installed, else one after another) in a run directory under ``--out``
(default ``~/mbrlax-bench/search``), so rerunning the same command continues them; what is
reported is read back from the run directories and their final models. Each part writes its
results file: ``benchmarks/results/search-closed_loop.json``, ``search-alphazero.json``
(``search-alphazero-discount0.99.json`` for a ``--discount`` other than the preset's),
``search-muzero.json`` and ``search-throughput.json``; every one records the number of reset
states.

    python benchmarks/search.py
    python benchmarks/search.py --reset-states 10 --skip-throughput
    python benchmarks/search.py --skip-closed-loop --skip-muzero --skip-throughput --discount 0.99
    python benchmarks/search.py --skip-closed-loop --skip-alphazero --skip-muzero
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs import as_step_fn, make_jax_env
from mbrlax.planners import MCTS
from mbrlax.training.bench import (
    SweepSettings,
    Table,
    add_sweep_arguments,
    curve_record,
    final_agent,
    run_seeds,
    split_train_args,
    sweep_settings,
    write_results,
)
from mbrlax.training.experiment import AlphaZeroExperiment
from mbrlax.training.logger import read_metrics

BENCHMARK = "search"
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


def closed_loop(reset_states: int) -> Table:
    """Known-model MCTS with random-rollout leaves from ``reset_states`` reset states."""
    env = make_jax_env(ENV)
    steps = env.spec.max_episode_steps
    print(f"Known-model MCTS on {ENV} ({reset_states} reset states, {steps} steps)")
    print(
        f"{'search':28} {'mean':>7} {'worst':>7} {'held 500':>9} {'ms/action':>10} "
        f"{'compile s':>10}"
    )
    rows = []
    for name, cfg in SETTINGS.items():
        planner = cfg.build(env.spec.num_actions)

        def episode(key, planner=planner):
            state, _ = env.reset(key)
            return mpc_rollout(env, planner, state, key, steps).episode_return

        run = jax.jit(episode)
        keys = jax.random.split(jax.random.key(0), reset_states)
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
        ms = 1000 * best / steps
        print(
            f"{name:28} {returns.mean():7.1f} {returns.min():7.1f} {held:>5d}/{reset_states:<3d} "
            f"{ms:10.2f} {compile_s:10.1f}",
            flush=True,
        )
        rows.append(
            [
                name,
                round(float(returns.mean()), 1),
                round(float(returns.min()), 1),
                f"{held}/{reset_states}",
                round(ms, 2),
                round(compile_s, 1),
            ]
        )
    columns = [
        "search (leaves valued by random rollouts)",
        "mean return",
        "worst",
        "held 500 steps",
        "ms/action",
        "compile s",
    ]
    return Table.of(columns, rows)


def _episode_returns(planner, reset_states: int) -> np.ndarray:
    """Returns of compiled closed-loop episodes of ``planner`` from the reset states."""
    env = make_jax_env(ENV)

    def episode(key):
        state, _ = env.reset(key)
        return mpc_rollout(env, planner, state, key, env.spec.max_episode_steps).episode_return

    keys = jax.random.split(jax.random.key(0), reset_states)
    return np.asarray(jax.jit(jax.vmap(episode))(keys))


def _network_only_returns(agent, state, reset_states: int) -> np.ndarray:
    """Returns of the policy-value network's most likely action alone, no search."""
    env = make_jax_env(ENV)

    def network_only(key):
        start, obs = env.reset(key)

        def body(carry, _):
            s, obs, alive, ret = carry
            out = env.step(s, agent.network_action(state, obs))
            ret = ret + jnp.where(alive, out.reward, 0.0)
            return (out.state, out.obs, alive & ~out.terminated, ret), None

        init = (start, obs, jnp.array(True), jnp.float32(0.0))
        return jax.lax.scan(body, init, None, env.spec.max_episode_steps)[0][3]

    keys = jax.random.split(jax.random.key(0), reset_states)
    return np.asarray(jax.jit(jax.vmap(network_only))(keys))


def _evals(run_dir: Path) -> list[tuple[int, float]]:
    """``(env_steps, eval_return)`` of a run's evaluated rows."""
    return [
        (int(r["env_steps"]), float(r["eval_return"]))
        for r in read_metrics(run_dir)
        if math.isfinite(r.get("eval_return", math.nan))
    ]


def _held_text(returns: np.ndarray, reset_states: int) -> str:
    return f"{returns.mean():.1f}, {int(np.sum(returns >= 500))}/{reset_states}"


def preset_discount() -> float:
    """The search discount of ``mbrlax train alphazero``'s CartPole preset."""
    return AlphaZeroExperiment.preset(ENV).agent.search.discount


def alphazero(
    settings: SweepSettings,
    train_seeds: Sequence[int],
    reset_states: int,
    total_steps: int,
    discount: float,
) -> tuple[dict[str, Table], list[dict]]:
    """AlphaZero's training per seed, then its trained network with and without search."""
    fixed = ["--total-steps", str(total_steps), "--no-progress"]
    group = f"alphazero-{total_steps}steps"
    if discount != preset_discount():
        fixed += ["--agent.search.discount", repr(discount)]
        group += f"-discount{discount:g}"
    dirs = run_seeds(settings, group, "alphazero", [ENV], train_seeds, fixed)
    rows, curves = [], []
    for seed, run_dir in zip(train_seeds, dirs, strict=True):
        evals = _evals(run_dir)
        metrics = read_metrics(run_dir)
        steps, wall = int(metrics[-1]["env_steps"]), float(metrics[-1]["wall_seconds"])
        first = next((s for s, v in evals if v >= 500), None)
        print(
            f"\nAlphaZero on {ENV} (preset, discount {discount}, seed {seed}): {steps} env "
            f"steps in {wall:.0f} s ({steps / wall:.1f} steps/s); first evaluation holding "
            f"500: {first} env steps; last 5 evaluations "
            f"{[round(v) for _, v in evals[-5:]]}"
        )
        _, agent, state = final_agent(run_dir)
        print(f"{'trained network':28} {'mean':>7} {'worst':>7} {'held 500':>9}")
        searched = {}
        for sims in (16, 32):
            search = dataclasses.replace(agent._greedy_search, num_simulations=sims)
            returns = _episode_returns(agent.planner(state.net, search), reset_states)
            searched[sims] = returns
            print(
                f"{f'search, {sims} simulations':28} {returns.mean():7.1f} "
                f"{returns.min():7.1f} {int(np.sum(returns >= 500)):>5d}/{reset_states:<3d}",
                flush=True,
            )
        alone = _network_only_returns(agent, state, reset_states)
        print(
            f"{'network alone (no search)':28} {alone.mean():7.1f} {alone.min():7.1f} "
            f"{int(np.sum(alone >= 500)):>5d}/{reset_states:<3d}",
            flush=True,
        )
        rows.append(
            [
                seed,
                discount,
                steps,
                round(wall),
                first,
                " / ".join(str(round(v)) for _, v in evals[-5:]),
                _held_text(searched[16], reset_states),
                _held_text(searched[32], reset_states),
                _held_text(alone, reset_states),
            ]
        )
        curves.append(curve_record(run_dir, f"alphazero, discount {discount:g}"))
    columns = [
        "seed",
        "discount",
        "env steps",
        "wall s",
        "first eval holding 500 (env steps)",
        "last 5 evals",
        f"search 16 sims (mean, held of {reset_states} reset states)",
        "search 32 sims",
        "network alone",
    ]
    return {"alphazero": Table.of(columns, rows)}, curves


def muzero(
    settings: SweepSettings, train_seeds: Sequence[int], total_steps: int
) -> tuple[dict[str, Table], list[dict]]:
    """MuZero's training per seed, and its learned model unrolled along an episode."""
    from mbrlax.envs import make_env

    env_id = "CartPole-v1"
    fixed = ["--total-steps", str(total_steps), "--no-progress"]
    dirs = run_seeds(settings, f"muzero-{total_steps}steps", "muzero", [env_id], train_seeds, fixed)
    rows, curves = [], []
    for seed, run_dir in zip(train_seeds, dirs, strict=True):
        evals = _evals(run_dir)
        metrics = read_metrics(run_dir)
        steps, wall = int(metrics[-1]["env_steps"]), float(metrics[-1]["wall_seconds"])
        reached = [i for i, (_, v) in enumerate(evals) if v >= 475]
        first = evals[reached[0]][0] if reached else None
        after = [v for _, v in evals[reached[0] :]] if reached else []
        print(
            f"\nMuZero on {env_id} (preset, seed {seed}): {steps} env steps in {wall:.0f} s "
            f"({steps / wall:.1f} steps/s); first evaluation (mean of 10 episodes) >= 475: "
            f"{first} env steps; evaluations from then on: {[round(v, 1) for v in after]}; "
            f"last 5: {[round(v, 1) for _, v in evals[-5:]]}"
        )
        # The learned model along the greedy policy's own episode from the gym env's reset state.
        _, agent, state = final_agent(run_dir)
        env = make_env(env_id)
        obs, _ = env.reset(seed=123)
        first_obs, actions, rewards = obs, [], []
        for t in range(50):
            action, _, _ = agent.act_eval(state, obs, jax.random.key(t))
            obs, reward, terminated, truncated, _ = env.step(np.asarray(action))
            actions.append(int(action))
            rewards.append(reward)
            if terminated or truncated:
                break
        env.close()
        predicted, values = agent.unroll(state.nets, first_obs, jnp.asarray(actions, jnp.int32))
        error = np.abs(np.asarray(predicted) - np.asarray(rewards))
        print(
            f"learned model unrolled {len(actions)} steps open loop along an evaluation "
            f"episode: reward error mean {error.mean():.3f}, max {error.max():.3f} (rewards are "
            f"1); value at the root {float(values[0]):.1f}, after {len(actions)} steps "
            f"{float(values[-1]):.1f}"
        )
        others = [v for v in after if v < 475]
        rows.append(
            [
                seed,
                steps,
                round(wall),
                first,
                f"{len(after) - len(others)}/{len(after)}",
                f"{min(others):.0f}-{max(others):.0f}" if others else None,
                round(float(error.mean()), 3),
                round(float(error.max()), 3),
            ]
        )
        curves.append(curve_record(run_dir, "muzero"))
    columns = [
        "seed",
        "env steps",
        "wall s",
        "first eval >= 475 (env steps)",
        "evals >= 475 from then on",
        "the others",
        "reward error, 50-step unroll (mean)",
        "(max)",
    ]
    return {"muzero": Table.of(columns, rows)}, curves


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


def throughput(batch: int = 64) -> tuple[Table, dict]:
    """Simulations per second of one batched search, rollouts against a network."""
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
    print(
        f"\nthroughput: one search over {batch} states; float32 matmul peak in this "
        f"process {peak:.1f} GFLOP/s"
    )
    print(
        f"{'leaves valued by':28} {'sims':>5} {'ms/search':>10} {'sims/s':>10} "
        f"{'net GFLOP/s':>12} {'of peak':>8}"
    )
    rows = []
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
            gflops = fraction = None
            if kwargs:
                # Each simulation evaluates the network twice (value, prior) at its new leaf.
                gflops = 2 * 2 * macs * rate / 1e9
                fraction = gflops / peak
                columns = f"{gflops:12.3f} {fraction:8.4f}"
            else:
                columns = f"{'-':>12} {'-':>8}"
            print(f"{label:28} {sims:5d} {1000 * best:10.2f} {rate:10.0f} {columns}", flush=True)
            rows.append(
                [
                    label,
                    sims,
                    round(1000 * best, 2),
                    int(round(rate, -2)),
                    None if gflops is None else round(gflops, 3),
                    None if fraction is None else round(fraction, 4),
                ]
            )
    columns = [
        f"leaves valued by (one search over {batch} states)",
        "simulations",
        "ms/search",
        "simulations/s",
        "network GFLOP/s",
        "fraction of matmul peak",
    ]
    return Table.of(columns, rows), {"peak_gflops": round(peak, 1), "batch": batch}


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reset-states",
        type=int,
        default=None,
        help="reset states (episodes) of the closed-loop searches and of the "
        "trained AlphaZero network's evaluation (default 5)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="the same as --reset-states (kept for older commands)",
    )
    parser.add_argument(
        "--train-seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="training seeds of AlphaZero and MuZero (default: %(default)s)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-closed-loop", action="store_true")
    parser.add_argument("--skip-alphazero", action="store_true")
    parser.add_argument("--alphazero-steps", type=int, default=20_000)
    parser.add_argument(
        "--discount",
        type=float,
        default=None,
        help=f"AlphaZero's search discount (default: the preset's, {preset_discount()})",
    )
    parser.add_argument("--skip-muzero", action="store_true")
    parser.add_argument("--muzero-steps", type=int, default=50_000)
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    if args.seeds is not None and args.reset_states is not None:
        parser.error("--seeds is the old name of --reset-states: give one of them.")
    if args.seeds is not None:
        print(
            f"note: --seeds {args.seeds} means --reset-states {args.seeds} (training seeds "
            "are --train-seeds)"
        )
    reset_states = args.reset_states or args.seeds or 5
    settings = sweep_settings(args, BENCHMARK, train_args)
    common = {"reset_states": reset_states, "train_seeds": args.train_seeds}

    def write(part: str, tables: dict[str, Table], curves=(), **extra) -> None:
        write_results(
            f"{BENCHMARK}-{part}", tables, list(curves), {**common, **extra}, args.results_dir
        )

    if not args.skip_closed_loop:
        write("closed_loop", {"mcts": closed_loop(reset_states)})
    if not args.skip_alphazero:
        discount = preset_discount() if args.discount is None else args.discount
        tables, curves = alphazero(
            settings, args.train_seeds, reset_states, args.alphazero_steps, discount
        )
        part = "alphazero" + ("" if discount == preset_discount() else f"-discount{discount:g}")
        write(part, tables, curves, discount=discount, total_steps=args.alphazero_steps)
    if not args.skip_muzero:
        tables, curves = muzero(settings, args.train_seeds, args.muzero_steps)
        write("muzero", tables, curves, total_steps=args.muzero_steps)
    if not args.skip_throughput:
        table, extra = throughput()
        write("throughput", {"throughput": table}, **extra)


if __name__ == "__main__":
    main()
