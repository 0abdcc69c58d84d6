"""PILCO swings up the pendulum from seconds of interaction.

The env is ``mbrlax/PendulumSwingup-v0``: the JAX rewrite of Gymnasium's Pendulum-v1 (same
dynamics, torque limit 2, dt 0.05 s, same reward) started hanging down at rest, 100-step
(5 s) episodes. PILCO's protocol: one episode of uniformly random torques, then after every
episode a GP fit and a policy improvement, and the improved policy runs the next one. Six
training episodes are 30 s of interaction in all (the issue's limit; the PILCO paper's
cart-pole took 17.5 s). The runner's evaluation episodes are not learned from.

A swing-up *holds* in an episode when the pole is within 0.2 rad of upright for its last 20
steps (1 s). Printed per seed: the return and whether it held in each training episode,
the interaction (seconds) after which it first held, and the final policy (after learning
from all 30 s) from 10 fresh starts: how many held, and its mean return.

``--ablate`` reruns the seeds without each of the agent's choices (see
``mbrlax.agents.pilco.agent``): fresh particles at every Adam step instead of fixed ones,
the last policy instead of the best, and the env's reward instead of PILCO's saturating
cost (width 1).

Every seed of every variant is a trial of ``mbrlax sweep`` (Ray when installed, else one after
another): a run directory under ``--out`` (default ``~/mbrlax-bench/pilco``, one folder per
variant), so rerunning the same command continues it. The training episodes' holds are read
from each run's final checkpoint (its replay buffer), the final policy from its
``final_model.eqx``. Tables ``variants`` and ``per_seed`` go to ``benchmarks/results/pilco.json``.

    python benchmarks/pilco.py              # 3 seeds, about 5 minutes on 2 shared CPU cores
    python benchmarks/pilco.py --ablate     # and 3 variants, about 20 minutes
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.pilco import PILCOConfig
from mbrlax.envs import make_jax_env
from mbrlax.training.bench import (
    Table,
    add_sweep_arguments,
    curve_record,
    final_agent,
    final_buffer,
    per_seed_text,
    render_markdown_table,
    run_seeds,
    split_train_args,
    sweep_settings,
    write_results,
)
from mbrlax.training.logger import read_metrics

BENCHMARK = "pilco"
ENV = "mbrlax/PendulumSwingup-v0"
HOLD_STEPS = 20  # the last 1 s of an episode
HOLD_ANGLE = 0.2  # rad from upright
FINAL_STARTS = 10

# variant -> (folder of its runs, `mbrlax train pilco` args)
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PILCO (mbrlax defaults)": ("defaults", ()),
    "fresh particles every step": ("fresh-particles", ("--agent.no-fixed-noise",)),
    "last policy, not the best": ("last-policy", ("--agent.no-keep-best",)),
    "the reward, not the saturating cost": ("reward-not-cost", ("--agent.cost-width", "0.0")),
}


def held(next_obs: np.ndarray) -> bool:
    """Whether the last ``HOLD_STEPS`` observations ``[T, 3]`` of an episode are upright."""
    theta = np.arctan2(next_obs[-HOLD_STEPS:, 1], next_obs[-HOLD_STEPS:, 0])
    return bool(np.all(np.abs(theta) < HOLD_ANGLE))


def final_policy_rollouts(policy, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``FINAL_STARTS`` episodes of ``policy`` from fresh starts: returns ``[N]`` and the
    angle from upright ``[N, T]`` (wrapped)."""
    env = make_jax_env(ENV)

    @jax.jit
    @jax.vmap
    def episode(key):
        state, obs = env.reset(key)

        def body(carry, _):
            state, obs = carry
            out = env.step(state, policy(obs))
            return (out.state, out.obs), (out.reward, jnp.arctan2(out.obs[1], out.obs[0]))

        _, (rewards, theta) = jax.lax.scan(body, (state, obs), None, env.spec.max_episode_steps)
        return rewards.sum(), theta

    keys = jax.random.split(jax.random.key(10_000 + seed), FINAL_STARTS)
    returns, theta = episode(keys)
    return np.asarray(returns), np.asarray(theta)


def analyse_run(run_dir: Path, seed: int) -> dict:
    """What the tables show of one finished run: its training episodes' returns and holds
    (from the replay buffer of its final checkpoint) and its final policy from fresh starts."""
    rows = read_metrics(run_dir)
    dt = make_jax_env(ENV).dt
    next_obs = np.asarray(final_buffer(run_dir).data.next_obs)
    steps = [int(r["env_steps"]) for r in rows]
    starts = [0, *steps[:-1]]
    holds = [held(next_obs[a:b]) for a, b in zip(starts, steps, strict=True)]
    first = next((steps[i] * dt for i, h in enumerate(holds) if h), None)
    _, _, state = final_agent(run_dir)
    returns, theta = final_policy_rollouts(state.policy, seed)
    final_held = int(np.sum(np.all(np.abs(theta[:, -HOLD_STEPS:]) < HOLD_ANGLE, axis=1)))
    return {
        "seed": seed,
        "train_returns": [float(r["train_return"]) for r in rows],
        "holds": holds,
        "first_hold_s": first,
        "interaction_s": steps[-1] * dt,
        "final_held": final_held,
        "final_return": float(np.mean(returns)),
        "final_theta": theta,
        "dt": dt,
        "wall": float(rows[-1]["wall_seconds"]),
    }


def plot(results: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ret, ax_th) = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        seconds = 5 * np.arange(1, len(r["train_returns"]) + 1)
        ax_ret.plot(seconds, r["train_returns"], marker="o", label=f"seed {r['seed']}")
        for s, ret, h in zip(seconds, r["train_returns"], r["holds"], strict=True):
            if h:
                ax_ret.plot(s, ret, "k*", markersize=12)
    ax_ret.set(
        xlabel="interaction (s) at the episode's end",
        ylabel="training episode return",
        title="PILCO, pendulum swing-up (* = held upright)",
    )
    ax_ret.legend()
    r0 = results[0]
    t = r0["dt"] * np.arange(1, r0["final_theta"].shape[1] + 1)
    for theta in r0["final_theta"]:
        ax_th.plot(t, np.abs(theta), alpha=0.7)
    ax_th.axhspan(0, HOLD_ANGLE, color="green", alpha=0.15)
    ax_th.set(
        xlabel="time (s)",
        ylabel="|angle from upright| (rad)",
        title=f"final policy, seed {r0['seed']}, {FINAL_STARTS} starts",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def result_tables(summary: list[tuple[str, list[dict]]], seeds: Sequence[int]) -> dict[str, Table]:
    """``variants`` (one line per variant, seeds side by side) and ``per_seed``."""
    columns = [
        "variant",
        "seed",
        "first held after (s of interaction)",
        "training interaction (s)",
        "final policy held",
        "final mean return",
        "wall (s)",
    ]
    per_seed = [
        [
            name,
            r["seed"],
            "never" if r["first_hold_s"] is None else round(r["first_hold_s"]),
            round(r["interaction_s"]),
            f"{r['final_held']}/{FINAL_STARTS}",
            round(r["final_return"], 1),
            round(r["wall"]),
        ]
        for name, results in summary
        for r in results
    ]
    seed_names = " / ".join(map(str, seeds))
    variants_table = Table.of(
        [
            "variant",
            f"first training episode that held, seeds {seed_names}",
            "final policy held",
            "final mean return",
        ],
        [
            [
                name,
                per_seed_text(
                    [
                        None if r["first_hold_s"] is None else f"after {r['first_hold_s']:.0f} s"
                        for r in results
                    ]
                ),
                ", ".join(f"{r['final_held']}/{FINAL_STARTS}" for r in results),
                ", ".join(f"{r['final_return']:.1f}" for r in results),
            ]
            for name, results in summary
        ],
    )
    return {"variants": variants_table, "per_seed": Table.of(columns, per_seed)}


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ablate", action="store_true", help="also run the 3 variants")
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    settings = sweep_settings(args, BENCHMARK, train_args)
    variants = VARIANTS if args.ablate else dict(list(VARIANTS.items())[:1])
    summary, curves = [], []
    for name, (folder, variant_args) in variants.items():
        fixed = ("--no-progress", *variant_args)
        dirs = run_seeds(settings, folder, "pilco", [ENV], args.seeds, fixed)
        results = []
        for seed, run_dir in zip(args.seeds, dirs, strict=True):
            r = analyse_run(run_dir, seed)
            results.append(r)
            curves.append(curve_record(run_dir, name))
            print(
                f"{name} | seed {seed}: episode returns "
                + " ".join(
                    f"{x:.0f}{'*' if h else ''}"
                    for x, h in zip(r["train_returns"], r["holds"], strict=True)
                )
                + f" | final policy held {r['final_held']}/{FINAL_STARTS}, "
                f"mean {r['final_return']:.1f} | {r['wall']:.0f} s",
                flush=True,
            )
        if not variant_args:
            print(f"plot: {plot(results, settings.out / 'pilco_swingup.png')}")
        summary.append((name, results))
    default = PILCOConfig()
    print(
        f"\n{ENV}, {len(args.seeds)} seeds; defaults: sparse GP (M={default.model.num_inducing}), "
        f"RBF policy ({default.num_basis} basis), {default.num_particles} particles, "
        f"{default.policy_steps} Adam steps (lr {default.learning_rate})"
    )
    tables = result_tables(summary, args.seeds)
    print(render_markdown_table(tables["per_seed"].as_dict()))
    extra = {
        "seeds": args.seeds,
        "env": ENV,
        "hold": f"|angle| < {HOLD_ANGLE} rad for the last {HOLD_STEPS} steps",
        "final_starts": FINAL_STARTS,
        "out": str(settings.out),
    }
    write_results(BENCHMARK, tables, curves, extra, args.results_dir)


if __name__ == "__main__":
    main()
