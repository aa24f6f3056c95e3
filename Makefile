# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,trio]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python docs/examples/human_in_the_loop.py

test: $(STAMP)
	$(BIN)/ruff check flowkit tests benchmarks docs/examples
	$(BIN)/ruff format --check flowkit tests benchmarks docs/examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks

# Mutation testing of flowkit/_engine/ (not part of `make test`: it takes long; see
# docs/mutation-testing.md). MUTATE= limits it to some mutants, e.g.
# MUTATE='flowkit._engine.ledger*'.
mutate: $(STAMP)
	$(BIN)/pip install --quiet -e '.[mutate]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 $(MUTATE)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
