# Set-up is part of every target: `make run` and `make test` create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export MUJOCO_GL ?= egl

.PHONY: run test test-slow lint bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
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
	$(VENV)/bin/ruff check mbrlax tests benchmarks
	$(VENV)/bin/ruff format --check mbrlax tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/planner_speed.py
	$(PY) benchmarks/pets_sample_efficiency.py

clean-venv:
	rm -rf $(VENV)
