"""Tree search with a known model: MCTS in closed loop, and its throughput.

1. Known-model MCTS on the JAX CartPole (``mbrlax/CartPole-v0``, Gymnasium CartPole-v1's
   physics, 500 steps): whole episodes compiled with ``mpc_rollout`` from several reset
   states, for each search setting: mean and worst return, episodes that held the pole for
   all 500 steps, milliseconds per action. Target: 500 with <= 32 simulations per step.
2. AlphaZero on the same CartPole (``mbrlax train alphazero``'s preset: 16 simulations, leaves
   valued and priors given by a policy-value network trained on reanalysed search targets):
   env steps until the first evaluation episode holds 500 steps, wall time; then the trained
   network's search (16 and 32 simulations, no noise) from the same reset states as 1., and
   the network alone (its prior's most likely action, no search).
3. MuZero on Gymnasium's CartPole-v1 (``mbrlax train muzero``'s preset: 16 simulations
   through the learned latent model, evaluations of 10 episodes after every 10 training
   episodes): env steps until the mean of an evaluation reaches 475 (target: within 50,000),
   the evaluations after it, wall time; then the learned model unrolled along an evaluation
   episode's actions against the rewards the env gave.
4. Throughput: simulations per second of one batched search over 64 CartPole states with 16
   and 64 simulations, leaves valued (a) by averaged random rollouts through the true model
   and (b) by a small value and prior network (4 -> 64 -> 64 -> 1 + 2, what AlphaZero's
   search evaluates), next to the float32 matmul peak measured in the same process.

    python benchmarks/search.py
    python benchmarks/search.py --seeds 5 --skip-throughput
    python benchmarks/search.py --skip-closed-loop --skip-alphazero --skip-muzero
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs import as_step_fn, make_jax_env
from mbrlax.experiment import AlphaZeroExperiment, MuZeroExperiment, run
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


def _episode_returns(planner, seeds: int) -> np.ndarray:
    """Returns of compiled closed-loop episodes of ``planner`` from ``seeds`` reset states."""
    env = make_jax_env(ENV)

    def episode(key):
        state, _ = env.reset(key)
        return mpc_rollout(env, planner, state, key, env.spec.max_episode_steps).episode_return

    return np.asarray(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), seeds)))


def alphazero(seeds: int, total_steps: int) -> None:
    exp = AlphaZeroExperiment.preset(ENV, seed=0)
    exp = dataclasses.replace(
        exp, runner=dataclasses.replace(exp.runner, total_steps=total_steps, progress=False)
    )
    t0 = time.perf_counter()
    result = run(exp, save=False)
    wall = time.perf_counter() - t0
    evals = [(r["env_steps"], r["eval_return"]) for r in result.rows if "eval_return" in r]
    held = [s for s, v in evals if v >= 500]
    first = held[0] if held else None
    print(f"\nAlphaZero on {ENV} (preset, seed 0): {result.rows[-1]['env_steps']} env steps in "
          f"{wall:.0f} s ({result.rows[-1]['env_steps'] / wall:.1f} steps/s); first evaluation "
          f"holding 500: {first} env steps; last 5 evaluations "
          f"{[round(v) for _, v in evals[-5:]]}")  # fmt: skip
    agent, net = exp.make_agent(make_jax_env(ENV).spec), result.agent_state.net
    print(f"{'trained network':28} {'mean':>7} {'worst':>7} {'held 500':>9}")
    for sims in (16, 32):
        search = dataclasses.replace(agent._greedy_search, num_simulations=sims)
        returns = _episode_returns(agent.planner(net, search), seeds)
        print(f"{f'search, {sims} simulations':28} {returns.mean():7.1f} {returns.min():7.1f} "
              f"{int(np.sum(returns >= 500)):>5d}/{seeds:<3d}", flush=True)  # fmt: skip
    env = make_jax_env(ENV)

    def network_only(key):
        state, obs = env.reset(key)

        def body(carry, _):
            state, obs, alive, ret = carry
            out = env.step(state, agent.network_action(result.agent_state, obs))
            ret = ret + jnp.where(alive, out.reward, 0.0)
            return (out.state, out.obs, alive & ~out.terminated, ret), None

        init = (state, obs, jnp.array(True), jnp.float32(0.0))
        return jax.lax.scan(body, init, None, env.spec.max_episode_steps)[0][3]

    keys = jax.random.split(jax.random.key(0), seeds)
    returns = np.asarray(jax.jit(jax.vmap(network_only))(keys))
    print(f"{'network alone (no search)':28} {returns.mean():7.1f} {returns.min():7.1f} "
          f"{int(np.sum(returns >= 500)):>5d}/{seeds:<3d}", flush=True)  # fmt: skip


def muzero(total_steps: int) -> None:
    env_id = "CartPole-v1"
    exp = MuZeroExperiment.preset(env_id, seed=0)
    exp = dataclasses.replace(
        exp, runner=dataclasses.replace(exp.runner, total_steps=total_steps, progress=False)
    )
    t0 = time.perf_counter()
    result = run(exp, save=False)
    wall = time.perf_counter() - t0
    evals = [(r["env_steps"], r["eval_return"]) for r in result.rows if "eval_return" in r]
    reached = [i for i, (_, v) in enumerate(evals) if v >= 475]
    first = evals[reached[0]][0] if reached else None
    after = [round(v, 1) for _, v in evals[reached[0] :]] if reached else []
    steps = result.rows[-1]["env_steps"]
    print(f"\nMuZero on {env_id} (preset, seed 0): {steps} env steps in {wall:.0f} s "
          f"({steps / wall:.1f} steps/s); first evaluation (mean of 10 episodes) >= 475: "
          f"{first} env steps; evaluations from then on: {after}; last 5: "
          f"{[round(v, 1) for _, v in evals[-5:]]}")  # fmt: skip
    # The learned model along the greedy policy's own episode from the gym env's reset state.
    from mbrlax.envs import make_env

    env = make_env(env_id)
    agent = exp.make_agent(env.spec)
    state = result.agent_state
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
    print(f"learned model unrolled {len(actions)} steps open loop along an evaluation episode: "
          f"reward error mean {error.mean():.3f}, max {error.max():.3f} (rewards are 1); "
          f"value at the root {float(values[0]):.1f}, after {len(actions)} steps "
          f"{float(values[-1]):.1f}")  # fmt: skip


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
    parser.add_argument("--skip-alphazero", action="store_true")
    parser.add_argument("--alphazero-steps", type=int, default=20_000)
    parser.add_argument("--skip-muzero", action="store_true")
    parser.add_argument("--muzero-steps", type=int, default=50_000)
    args = parser.parse_args()
    if not args.skip_closed_loop:
        closed_loop(args.seeds)
    if not args.skip_alphazero:
        alphazero(args.seeds, args.alphazero_steps)
    if not args.skip_muzero:
        muzero(args.muzero_steps)
    if not args.skip_throughput:
        throughput()


if __name__ == "__main__":
    main()
