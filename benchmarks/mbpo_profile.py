"""Where MBPO's time goes: one run through the runner, every piece timed in the same process.

MBPO's wall time against the time of its SAC updates alone (the ``G`` gradient steps after
every env step, the part no model-based speed-up can remove): the issue's goal is at most 1.5.
The pieces, each timed to completion (``jax.block_until_ready``) around the agent's own calls:
the ensemble refits, the branched rollouts, the SAC updates, acting, and the rest of the
runner's loop (env steps, the replay buffer, logging) as the remainder. Evaluation episodes
are turned off: they are not training. The ratio is also given from the end of the second
refit on, when the compilations and the first fit of a fresh ensemble (the longest: 2,000
gradient steps) are behind: what a long run pays per env step. The rollouts are at the
preset's first length (Hopper's k grows from epoch 20, 20,000 steps, on).

    python benchmarks/mbpo_profile.py                        # Hopper-v5, 3,000 learned steps
    python benchmarks/mbpo_profile.py --env InvertedPendulum-v5 --steps 2000
    python benchmarks/mbpo_profile.py --max-updates 0        # the refit uncapped

Writes ``benchmarks/results/mbpo_profile-<ENV>.json``, table ``pieces``: each piece's seconds,
share, ms per env step and its time as a multiple of the SAC updates', over the whole run and
after the first two refits; the row "MBPO in all" holds the ratios of the goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections import defaultdict
from typing import Any

import jax

from mbrlax.agents.mbpo import MBPO
from mbrlax.envs import get_task, make_env
from mbrlax.training.bench import Table, add_results_argument, slug, write_results
from mbrlax.training.experiment import MBPOExperiment
from mbrlax.training.loop import train

SECONDS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
STARTED: list[float] = []  # when MBPO first learned: the warm-up's random steps end there
STEADY: dict[str, Any] = {}  # SECONDS, time and env steps when the second refit ended
REST = "rest of the loop (env, buffer, host)"
STEADY_AFTER = 2  # refits: compilation and the first (fresh, longest) fit are behind by then


def timed(name: str, fn, *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` run to completion, its wall time added to ``SECONDS[name]``."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    SECONDS[name] += time.perf_counter() - t0
    CALLS[name] += 1
    return out


class _TimedEnsemble:
    """The agent's ensemble, its ``fit`` timed (everything else passed through)."""

    def __init__(self, model):
        self._model = model

    def fit(self, *args, **kwargs):
        out = timed("model refit", self._model.fit, *args, **kwargs)
        if CALLS["model refit"] == STEADY_AFTER:
            STEADY.update(seconds=dict(SECONDS), t=time.perf_counter(), calls=dict(CALLS))
        return out

    def __getattr__(self, name):
        return getattr(self._model, name)


@dataclasses.dataclass(frozen=True)
class TimedMBPO(MBPO):
    """MBPO with its refits, rollouts, SAC updates and actions timed."""

    @functools.cached_property
    def model(self):
        return _TimedEnsemble(super().model)

    def imagine(self, state, buffer, key, length):
        # The untimed ensemble goes into the jitted rollout (a static argument).
        plain = dataclasses.replace(self)  # a new object: its own cached, untimed model
        object.__setattr__(plain, "model", self.model._model)
        return timed("branched rollouts", MBPO.imagine, plain, state, buffer, key, length)

    def _policy_updates(self, *args):
        return timed("SAC updates", super()._policy_updates, *args)

    def act(self, state, obs, key):
        return timed("acting", super().act, state, obs, key)

    def update(self, state, buffer, key):
        if not STARTED:
            STARTED.append(time.perf_counter())
        return super().update(state, buffer, key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--steps", type=int, default=3000, help="env steps learned from")
    parser.add_argument("--warmup", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--max-updates", type=int, default=None, help="refit cap (default: the preset's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_results_argument(parser)
    args = parser.parse_args()

    exp = MBPOExperiment.preset(args.env, seed=args.seed)
    agent_cfg = exp.agent
    if args.max_updates is not None:
        model = dataclasses.replace(agent_cfg.model, max_updates=args.max_updates)
        agent_cfg = dataclasses.replace(agent_cfg, model=model)
    warmup = exp.runner.warmup_steps if args.warmup is None else args.warmup
    runner = dataclasses.replace(
        exp.runner,
        total_steps=warmup + args.steps,
        warmup_steps=warmup,
        eval_episodes=0,
        checkpoint_every=0,
        progress=False,
    )
    env = make_env(args.env)
    agent = TimedMBPO(agent_cfg, env.spec, get_task(args.env))
    result = train(agent, env, None, runner, args.seed)
    training = time.perf_counter() - STARTED[0]  # from the first update to the end
    env.close()
    learned = result.rows[-1]["env_steps"] - warmup
    pieces = dict(SECONDS)
    pieces[REST] = training - sum(SECONDS.values())
    order = sorted(pieces, key=lambda k: -pieces[k]) + ["MBPO in all"]
    pieces["MBPO in all"] = training
    steady_pieces: dict[str, float] = {}
    if STEADY:  # the same pieces from the end of the second refit on
        steady_pieces = {k: v - STEADY["seconds"].get(k, 0.0) for k, v in SECONDS.items()}
        steady_pieces["MBPO in all"] = STARTED[0] + training - STEADY["t"]
        steady_pieces[REST] = steady_pieces["MBPO in all"] - sum(
            v for k, v in steady_pieces.items() if k != "MBPO in all"
        )

    def to_sac(p: dict[str, float]) -> dict[str, float]:
        """Each piece's time as a multiple of the SAC updates' (empty for no pieces)."""
        return {k: round(v / p["SAC updates"], 2) for k, v in p.items()} if p else {}

    x_sac, x_sac_steady = to_sac(pieces), to_sac(steady_pieces)
    rows = [
        [
            name,
            round(pieces[name], 1),
            round(pieces[name] / training, 3),
            round(1000 * pieces[name] / learned, 2),
            x_sac[name],
            x_sac_steady.get(name),
        ]
        for name in order
    ]
    cfg = agent_cfg
    print(f"\nMBPO on {args.env}: {learned} env steps learned from (after {warmup} warm-up),")
    print(f"G = {cfg.sac.updates_per_step}, refit every {cfg.model_train_every} steps "
          f"(cap {cfg.model.max_updates or 'none'} gradient steps), "
          f"{cfg.rollout_batch_size:,} rollouts")  # fmt: skip
    print(f"{'piece':40} {'seconds':>9} {'share':>7} {'ms / env step':>14} {'x SAC':>6}")
    for name, sec, share, ms, x, _ in rows:
        print(f"{name:40} {sec:9.1f} {share:7.3f} {ms:14.2f} {x:6.2f}")
    ratio = training / SECONDS["SAC updates"]
    print(f"\nMBPO wall time / its SAC updates alone: {ratio:.2f} (goal <= 1.5)")
    steady = x_sac_steady.get("MBPO in all")
    if steady is not None:
        steady_refits = CALLS["model refit"] - STEADY["calls"]["model refit"]
        print(
            f"after the first {STEADY_AFTER} refits (compilation and the fresh fit behind; "
            f"{steady_refits} refits): {steady:.2f}"
        )
    after = f"x SAC updates, after the first {STEADY_AFTER} refits"
    columns = ["piece", "seconds", "share of MBPO's time", "ms per env step", "x SAC updates"]
    table = Table.of(columns + [after], rows)
    write_results(
        f"mbpo_profile-{slug(args.env)}",
        {"pieces": table},
        extra={
            "env": args.env,
            "learned_steps": learned,
            "ratio_to_sac_updates": round(ratio, 2),
            "ratio_after_first_refits": None if steady is None else round(steady, 2),
            "first_refits_left_out": STEADY_AFTER,
            "refits": CALLS["model refit"],
            "max_updates": cfg.model.max_updates,
        },
        results_dir=args.results_dir,
    )


if __name__ == "__main__":
    main()
