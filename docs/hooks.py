"""mkdocs hooks: the benchmark curves and the examples join the site from where they live.

``benchmarks/results/*.png`` are published as ``results/NAME.png`` (pages write
``![...](results/NAME.png)`` relative to ``docs/``), and ``examples/*.py`` as
``examples/NAME.py`` (downloadable); both stay single files in the repository.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for folder, pattern, dest in [
        (root / "benchmarks" / "results", "*.png", "results"),
        (root / "examples", "*.py", "examples"),
    ]:
        for path in sorted(folder.glob(pattern)):
            files.append(File.generated(config, f"{dest}/{path.name}", abs_src_path=str(path)))
    return files
