"""The documentation runs: every Python block of the docs executes, every `mbrlax train` command
written in the docs and the README parses with the options it names, every example script runs
in its short mode, and the README stays a front page.

Conventions (docs/index.md's "Writing these pages"): the ```` ```python ```` blocks of a page run
in order in one namespace, in a scratch folder; a block right after the line
``<!-- not-run: why -->`` is shown, not run (fragments of a larger file, say). Blocks that
include a file with ``--8<--`` are the examples, run by ``test_example_runs``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest
import tyro

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
NOT_RUN = "<!-- not-run:"


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    code: str
    run: bool
    line: int


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with whether the docs test runs them."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip().splitlines()
        marked = bool(before) and before[-1].strip().startswith(NOT_RUN)
        body = "\n".join(line[len(m["indent"]) :] for line in m["body"].splitlines())
        snippet = body.lstrip().startswith("--8<--")
        out.append(
            Block(m["lang"], body, not marked and not snippet, text.count("\n", 0, m.start()) + 1)
        )
    return out


def pages_with_python() -> list[Path]:
    return [
        p
        for p in sorted(DOCS.rglob("*.md"))
        if any(b.lang == "python" and b.run for b in blocks(p))
    ]


@pytest.mark.parametrize("page", pages_with_python(), ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_of_the_page_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "tests"))  # pages may use tests/user_envs.py's envs
    module = types.ModuleType(f"docs_page_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look it up
    for block in blocks(page):
        if block.lang == "python" and block.run:
            code = compile(block.code, f"{page.relative_to(ROOT)}:{block.line}", "exec")
            exec(code, module.__dict__)  # a failure names the page and the block's line


def train_commands(path: Path) -> list[tuple[int, list[str]]]:
    """Every ``mbrlax train ...`` command in the shell blocks of a Markdown file (continuation
    lines joined, comments dropped), as the words after ``train``."""
    out = []
    for block in blocks(path):
        if block.lang not in ("bash", "console", "sh", "shell"):
            continue
        joined = re.sub(r"\\\n\s*", " ", block.code)
        for i, line in enumerate(joined.splitlines()):
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):  # PYTHONPATH=tests mbrlax ...
                words = words[1:]
            if len(words) > 2 and words[0].endswith("mbrlax") and words[1] == "train":
                out.append((block.line + i, words[2:]))
    return out


def documented_commands():
    files = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [
        pytest.param(words, id=f"{path.relative_to(ROOT)}:{line}")
        for path in files
        for line, words in train_commands(path)
    ]


@pytest.mark.parametrize("words", documented_commands())
def test_documented_train_commands_parse(words):
    """The options a page tells users to type exist and pass the config's checks (nothing is
    trained)."""
    from mbrlax.cli.common import peek_env
    from mbrlax.training.experiment import EXPERIMENTS

    algo, args = words[0], [w for w in words[1:] if w not in ("--overwrite",)]
    if "--resume" in args or "--help" in args:
        return  # continues a run / prints the options
    cls = EXPERIMENTS[algo]
    env = peek_env(args, cls.env)
    if ":" in env and not env.startswith("mbrlax/"):
        pytest.importorskip(env.split(":")[0])
    exp = tyro.cli(cls, args=args, default=cls.preset(env), prog=f"mbrlax train {algo}")
    exp.check()


def test_the_docs_name_commands_to_check():
    assert len(documented_commands()) >= 15


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example, tmp_path):
    """Each example, as a user would start it, in its short mode (``--quick``)."""
    env = {**os.environ, "MUJOCO_GL": "egl"}
    proc = subprocess.run(
        [sys.executable, str(example), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok:" in proc.stdout, proc.stdout[-2000:]


def test_every_example_is_in_the_docs():
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    assert EXAMPLES
    for example in EXAMPLES:
        assert f'--8<-- "examples/{example.name}"' in text, example.name


def test_the_readme_is_a_front_page_that_links_to_the_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 160
    assert "make run" in text and "make test" in text and "make docs" in text
    for page in ["getting-started.md", "benchmarks.md", "algorithms/index.md"]:
        assert f"docs/{page}" in text, page


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        assert str(page.relative_to(DOCS)) in nav, f"{page} is not in mkdocs.yml's nav"
