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

    python benchmarks/pilco.py              # 3 seeds, about 5 minutes on 2 shared CPU cores
    python benchmarks/pilco.py --ablate     # and 3 variants, about 20 minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.pilco import PILCOConfig
from mbrlax.envs import make_jax_env
from mbrlax.experiment import PILCOExperiment, run

ENV = "mbrlax/PendulumSwingup-v0"
HOLD_STEPS = 20  # the last 1 s of an episode
HOLD_ANGLE = 0.2  # rad from upright
FINAL_STARTS = 10

VARIANTS: dict[str, dict] = {
    "PILCO (mbrlax defaults)": {},
    "fresh particles every step": {"fixed_noise": False},
    "last policy, not the best": {"keep_best": False},
    "the reward, not the saturating cost": {"cost_width": 0.0},
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


def run_seed(name: str, overrides: dict, seed: int, out: Path) -> dict:
    exp = PILCOExperiment.preset(ENV, seed=seed)
    slug = name.split(" (")[0].replace(" ", "-").replace(",", "")
    exp = dataclasses.replace(
        exp,
        run_dir=out / f"{slug}-seed{seed}",
        agent=dataclasses.replace(exp.agent, **overrides),
        runner=dataclasses.replace(exp.runner, progress=False),
    )
    dt = make_jax_env(ENV).dt
    t0 = time.perf_counter()
    result = run(exp)
    wall = time.perf_counter() - t0
    data = result.buffer.data
    steps = [int(r["env_steps"]) for r in result.rows]
    starts = [0, *steps[:-1]]
    next_obs = np.asarray(data.next_obs)
    holds = [held(next_obs[a:b]) for a, b in zip(starts, steps, strict=True)]
    first = next((steps[i] * dt for i, h in enumerate(holds) if h), None)
    returns, theta = final_policy_rollouts(result.agent_state.policy, seed)
    final_held = int(np.sum(np.all(np.abs(theta[:, -HOLD_STEPS:]) < HOLD_ANGLE, axis=1)))
    return {
        "seed": seed,
        "train_returns": [float(r["train_return"]) for r in result.rows],
        "holds": holds,
        "first_hold_s": first,
        "interaction_s": steps[-1] * dt,
        "final_held": final_held,
        "final_return": float(np.mean(returns)),
        "final_theta": theta,
        "dt": dt,
        "wall": wall,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ablate", action="store_true", help="also run the 3 variants")
    parser.add_argument("--out", type=Path, default=None, help="folder for the run directories")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mbrlax-pilco-bench-"))
    variants = VARIANTS if args.ablate else dict(list(VARIANTS.items())[:1])
    summary = []
    for name, overrides in variants.items():
        results = []
        for seed in args.seeds:
            r = run_seed(name, overrides, seed, out)
            results.append(r)
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
        if not overrides:
            print(f"plot: {plot(results, out / 'pilco_swingup.png')}")
        summary.append((name, results))
    default = PILCOConfig()
    print(
        f"\n{ENV}, {len(args.seeds)} seeds; defaults: sparse GP (M={default.model.num_inducing}), "
        f"RBF policy ({default.num_basis} basis), {default.num_particles} particles, "
        f"{default.policy_steps} Adam steps (lr {default.learning_rate})"
    )
    print(
        "| variant | seed | first held after (s of interaction) | training interaction (s) "
        "| final policy held | final mean return | wall (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, results in summary:
        for r in results:
            first = "never" if r["first_hold_s"] is None else f"{r['first_hold_s']:.0f}"
            print(
                f"| {name} | {r['seed']} | {first} | {r['interaction_s']:.0f} | "
                f"{r['final_held']}/{FINAL_STARTS} | {r['final_return']:.1f} | {r['wall']:.0f} |"
            )


if __name__ == "__main__":
    main()
