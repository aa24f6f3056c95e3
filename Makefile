# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,trio]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python docs/examples/human_in_the_loop.py
	$(BIN)/python docs/examples/durable_human_in_the_loop.py

test: $(STAMP)
	$(BIN)/ruff check flowkit tests benchmarks docs/examples
	$(BIN)/ruff format --check flowkit tests benchmarks docs/examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
