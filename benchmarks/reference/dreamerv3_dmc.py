"""DreamerV3's released DMC learning curves, up to 100k frames, for the tasks that
``benchmarks/world_models.py`` compares with: ``benchmarks/reference/dreamerv3_dmc.json``.

The source is DreamerV3's own repository (github.com/danijar/dreamerv3), files
``scores/dmc_proprio-dreamerv3.json.gz`` (5 seeds) and ``scores/dmc_vision-dreamerv3.json.gz``
(10 seeds), added at its commit 2411f7d (2024-04-15): one record per task and seed, ``xs`` and
``ys``. At that commit DMC ran at action repeat 2 (``env.dmc.repeat: 2`` in
``dreamerv3/configs.yaml``) and its logger counted steps as agent steps times that repeat
(``multiplier`` in ``dreamerv3/main.py``): ``xs`` are frames, the unit of ``--frames``. The
proprioceptive file evaluates every 10k frames; the vision file logs 8 evaluation episodes per
~8k frames, averaged here into one point (at the group's first frame count).

    git clone https://github.com/danijar/dreamerv3 /tmp/dreamerv3
    python benchmarks/reference/dreamerv3_dmc.py /tmp/dreamerv3
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("dreamerv3_dmc.json")
FILES = {"proprio": "scores/dmc_proprio-dreamerv3.json.gz", "pixels": "scores/dmc_vision-dreamerv3.json.gz"}  # fmt: skip  # noqa: E501
TASKS = {"proprio": ["cartpole-swingup", "pendulum-swingup", "reacher-easy"], "pixels": ["cartpole-swingup"]}  # fmt: skip  # noqa: E501
MAX_FRAMES = 100_000
GAP = 1_000  # evaluation episodes logged less than this many frames apart form one point


def curve(xs: list[float], ys: list[float | None]) -> tuple[list[int], list[float]]:
    """``(frames, returns)`` up to :data:`MAX_FRAMES`, episodes logged together averaged."""
    frames, returns, group = [], [], []
    for x, y in zip(xs, ys, strict=True):
        if x > MAX_FRAMES:
            break
        if y is None:
            continue
        if group and x - group[0][0] >= GAP:
            frames.append(int(group[0][0]))
            returns.append(round(float(np.mean([g[1] for g in group])), 3))
            group = []
        group.append((x, y))
    if group:
        frames.append(int(group[0][0]))
        returns.append(round(float(np.mean([g[1] for g in group])), 3))
    return frames, returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="a clone of github.com/danijar/dreamerv3")
    args = parser.parse_args()
    curves: dict[str, list[dict]] = {}
    sources = {}
    for mode, name in FILES.items():
        with gzip.open(args.repo / name, "rt") as f:
            records = json.load(f)
        commit = subprocess.run(
            ["git", "-C", str(args.repo), "log", "-1", "--format=%H", "--", name],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        sources[mode] = {"file": name, "commit": commit or None}
        for task in TASKS[mode]:
            rows = [r for r in records if r["task"] == "dmc_" + task.replace("-", "_")]
            runs = []
            for r in sorted(rows, key=lambda r: r["seed"]):
                frames, returns = curve(r["xs"], r["ys"])
                runs.append({"seed": r["seed"], "frames": frames, "returns": returns})
            curves[f"{mode}/{task}"] = runs
    record = {
        "source": "github.com/danijar/dreamerv3",
        "files": sources,
        "unit": "frames (agent steps x action repeat 2)",
        "curves": curves,
    }
    # One line per seed: the file reads as a table.
    text = json.dumps({**record, "curves": "CURVES"}, indent=1)
    lines = ",\n".join(
        f'  "{key}": [\n' + ",\n".join("   " + json.dumps(r) for r in runs) + "\n  ]"
        for key, runs in curves.items()
    )
    OUT.write_text(text.replace('"CURVES"', "{\n" + lines + "\n }") + "\n")
    for key, runs in curves.items():
        last = [r["returns"][-1] for r in runs]
        print(f"{key}: {len(runs)} seeds, at {runs[0]['frames'][-1]} frames {np.mean(last):.1f}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
