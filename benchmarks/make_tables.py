"""Regenerate the README's benchmark tables and the learning-curve PNGs from the results files.

Every table in README.md (and in any ``docs/**/*.md``) that sits between
``<!-- bench:NAME:TABLE -->`` and ``<!-- /bench:NAME:TABLE -->`` is replaced by table TABLE of
``benchmarks/results/NAME.json``, rendered as Markdown, and a line with the command that
measured it, the commit, the date and the machine (see ``mbrlax.training.bench``). Marked
tables without a results file yet are left as they are (and listed). Every results file with
learning curves gets ``benchmarks/results/NAME.png`` (mean over seeds +- standard error).

    python benchmarks/make_tables.py            # rewrite the tables, draw the curves
    python benchmarks/make_tables.py --check    # exit 1 if a table differs from its results
                                                # file or a results file's PNG is missing
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from mbrlax.training.bench import load_all_results, plot_results, replace_tables, repo_root


def default_targets(root: Path) -> list[Path]:
    """README.md and every Markdown file under ``docs/`` that holds a marker."""
    targets = [root / "README.md"]
    docs = root / "docs"
    if docs.is_dir():
        targets += [p for p in sorted(docs.rglob("*.md")) if "<!-- bench:" in p.read_text()]
    return [p for p in targets if p.is_file()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a file's tables differ from the results",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        type=Path,
        default=None,
        help="Markdown files to regenerate (default: README.md, marked docs)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="default: benchmarks/results of this repository",
    )
    parser.add_argument("--no-plots", action="store_true", help="do not draw the PNGs")
    args = parser.parse_args(argv)
    root = repo_root()
    results_dir = args.results_dir or root / "benchmarks" / "results"
    try:
        results = load_all_results(results_dir)
    except ValueError as e:
        print(f"make_tables: {e}", file=sys.stderr)
        return 2
    files = args.files or default_targets(root)
    stale, used = [], set()
    for path in files:
        text = path.read_text()
        try:
            rendered = replace_tables(text, results, where=str(path))
        except (ValueError, KeyError) as e:
            print(f"make_tables: {path}: {e}", file=sys.stderr)
            return 2
        used |= {r.split(":")[0] for r in rendered.replaced}
        for key in rendered.pending:
            print(f"{path}: {key}: no results file yet, the table is left as it is")
        if rendered.text == text:
            print(f"{path}: up to date ({len(rendered.replaced)} generated tables)")
            continue
        if args.check:
            stale.append(path)
            diff = difflib.unified_diff(
                text.splitlines(), rendered.text.splitlines(), str(path), "generated", lineterm=""
            )
            print("\n".join(list(diff)[:60]))
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(rendered.text)
        tmp.replace(path)
        print(f"{path}: rewrote {len(rendered.replaced)} tables")
    for name in sorted(set(results) - used):
        print(f"{results_dir / name}.json: no marker uses it")
    for name, data in results.items():
        png = results_dir / f"{name}.png"
        if args.check:
            if data.get("runs") and not png.is_file():
                print(f"{png} is missing")
                stale.append(png)
        elif not args.no_plots and plot_results(data, png) is not None:
            print(f"curves: {png}")
    if stale:
        print(
            f"make_tables: {', '.join(map(str, stale))} differ from the results files; run "
            "`python benchmarks/make_tables.py` to regenerate them.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
