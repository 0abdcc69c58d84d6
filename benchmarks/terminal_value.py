"""Decision-time planning on top of a learned value: CEM with SAC's critic as ``V(s_H)``.

SAC is trained on Gymnasium's Pendulum-v1 (``mbrlax train sac``'s preset, or
``--sac-steps``); then, on the JAX twin ``mbrlax/Pendulum-v0`` (the same dynamics and
observations), closed-loop episodes of 200 steps from ``--seeds`` reset states compare:

- CEM through the true model with horizon ``H`` alone (discount 0.99, as SAC's);
- the same CEM with SAC's critic at the end of the horizon,
  ``V(s_H) = min_i Q_i(s_H, tanh(mu(s_H)))`` (``sac_value_fn`` via ``observed_value``);
- SAC's policy alone (its mean action), no planning.

A short horizon cannot see a swing-up through; the critic tells it what lies beyond.
Results: ``benchmarks/results/terminal_value.json`` (table ``planners``).

    python benchmarks/terminal_value.py
    python benchmarks/terminal_value.py --horizons 3 5 10 --seeds 20
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.mpc import mpc_rollout, observed_value
from mbrlax.agents.sac import sac_value_fn
from mbrlax.envs import make_jax_env
from mbrlax.planners import CEM
from mbrlax.training.bench import Table, add_results_argument, write_results
from mbrlax.training.experiment import SACExperiment, run

STEPS = 200


def _policy_return(env, learner, state, key):
    start, obs = env.reset(key)

    def body(carry, _):
        s, o, ret = carry
        out = env.step(s, learner.deterministic(state, o))
        return (out.state, out.obs, ret + out.reward), None

    return jax.lax.scan(body, (start, obs, jnp.float32(0.0)), None, STEPS)[0][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sac-steps", type=int, default=15_000)
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--seeds", type=int, default=10, help="reset states (episodes)")
    add_results_argument(parser)
    args = parser.parse_args()

    exp = SACExperiment.preset("Pendulum-v1", seed=0)
    runner = dataclasses.replace(exp.runner, total_steps=args.sac_steps, progress=False)
    t0 = time.perf_counter()
    result = run(dataclasses.replace(exp, runner=runner), save=False)
    sac_wall = time.perf_counter() - t0
    env = make_jax_env("mbrlax/Pendulum-v0")
    learner = exp.make_agent(env.spec).learner
    state = result.agent_state
    value = observed_value(env, sac_value_fn(learner, state))
    keys = jax.random.split(jax.random.key(7), args.seeds)
    steps = result.rows[-1]["env_steps"]
    print(
        f"SAC on Pendulum-v1: {steps} env steps, {sac_wall:.0f} s; closed loop on "
        f"mbrlax/Pendulum-v0, {args.seeds} reset states, {STEPS} steps"
    )

    sac = np.asarray(jax.jit(jax.vmap(lambda k: _policy_return(env, learner, state, k)))(keys))
    print("\n| planner | mean return | worst | ms/action |\n|---|---|---|---|")
    print(f"| SAC policy alone | {sac.mean():.1f} | {sac.min():.1f} | - |")
    rows = [["SAC policy alone", round(float(sac.mean()), 1), round(float(sac.min()), 1), None]]
    for horizon in args.horizons:
        for label, terminal in (("alone", None), ("+ SAC critic", value)):
            planner = CEM(horizon=horizon, discount=0.99).build_for(env.spec, terminal)

            def episode(key, planner=planner):
                start, _ = env.reset(key)
                return mpc_rollout(env, planner, start, key, STEPS).episode_return

            episodes = jax.jit(jax.vmap(episode))
            returns = np.asarray(episodes(keys))  # compiles, then the timed run
            t0 = time.perf_counter()
            episodes(keys).block_until_ready()
            ms = 1000 * (time.perf_counter() - t0) / (STEPS * args.seeds)
            print(
                f"| CEM H={horizon} {label} | {returns.mean():.1f} | {returns.min():.1f} "
                f"| {ms:.2f} |",
                flush=True,
            )
            rows.append(
                [
                    f"CEM H={horizon} {label}",
                    round(float(returns.mean()), 1),
                    round(float(returns.min()), 1),
                    round(ms, 2),
                ]
            )
    table = Table.of(["planner", "mean return", "worst", "ms/action"], rows)
    extra = {
        "sac_steps": int(steps),
        "sac_wall_s": round(sac_wall),
        "reset_states": args.seeds,
        "steps": STEPS,
    }
    write_results("terminal_value", {"planners": table}, extra=extra, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
