# Set-up is part of every target: `make run` and `make test` create .venv when it is missing,
# with the versions pinned in constraints.txt (the same on every machine and in CI).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := constraints.txt
export MUJOCO_GL ?= egl

.PHONY: run test test-slow lint bench docs docs-serve clean-venv lock test-latest wheel-check cuda-check

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	@touch $(STAMP)

## The main job: PETS learns to swing up Pendulum-v1 (a few minutes); prints a table, saves a PNG.
run: $(STAMP)
	$(VENV)/bin/mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10

## Fast tests (the default; slow learning tests are excluded), two processes (a test file
## stays in one, so module fixtures are computed once).
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

## Only the slow learning tests.
test-slow: $(STAMP)
	$(PY) -m pytest -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check mbrlax tests benchmarks examples docs/hooks.py
	$(VENV)/bin/ruff format --check mbrlax tests benchmarks examples docs/hooks.py

## The documentation site (mkdocs-material + mkdocstrings) into site/; any warning is an error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

## The site with live reload at http://127.0.0.1:8000
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

bench: $(STAMP)
	$(PY) benchmarks/planner_speed.py
	$(PY) benchmarks/pets_sample_efficiency.py

clean-venv:
	rm -rf $(VENV)

## Re-pin: resolve the newest versions pyproject.toml allows in a scratch venv and write them to
## constraints.txt (then run `make test` and commit both).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e ".[dev]"
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-lock/bin/python -m pip freeze --exclude-editable; } \
		> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS) && rm -rf .venv-lock

## Drift check: the tests against the newest versions (not the pinned ones), in .venv-latest.
test-latest:
	@test -x .venv-latest/bin/python || $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade -e ".[dev]"
	grep -v '^#' $(CONSTRAINTS) > .venv-latest/pinned.txt
	.venv-latest/bin/python -m pip freeze --exclude-editable | diff .venv-latest/pinned.txt - || true
	.venv-latest/bin/python -m pytest -n 2 --dist loadfile

## The wheel, installed (not editable) into a clean venv with the pinned versions, runs.
wheel-check:
	rm -rf build dist .venv-wheel && $(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet --upgrade pip build
	.venv-wheel/bin/python -m build --wheel --outdir dist .
	.venv-wheel/bin/python -m pip install --quiet -c $(CONSTRAINTS) dist/mbrlax-*.whl
	cd /tmp && $(CURDIR)/.venv-wheel/bin/mbrlax --help > /dev/null
	cd /tmp && $(CURDIR)/.venv-wheel/bin/python -c "import mbrlax.training.loop, mbrlax.analysis.planner_plots, mbrlax.cli.train"
	@echo "wheel-check: the wheel installs and mbrlax --help runs"

## The `cuda` extra resolves against the pins (pip's resolver, nothing installed: the GPU
## wheels are large); prints the JAX CUDA plugin and NVIDIA libraries it would install.
cuda-check: $(STAMP)
	$(PY) -m pip install --quiet --dry-run --ignore-installed --report .venv/cuda-report.json \
		-c $(CONSTRAINTS) ".[cuda]"
	$(PY) -c "import json; r = json.load(open('.venv/cuda-report.json')); \
		print(*sorted(i['metadata']['name'] + '==' + i['metadata']['version'] for i in r['install'] \
		if 'cuda' in i['metadata']['name'] or 'nvidia' in i['metadata']['name']), sep='\n')"
