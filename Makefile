# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-without-pydantic lint typecheck bench mutate clean

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

# The suite in a venv without pydantic (an optional extra): tests named *_pydantic.py are
# left out there by tests/conftest.py, every other test must pass. The other extras the
# tests use (trio, PostgreSQL, drawing) are installed.
NOPYDANTIC := .venv-nopydantic
test-without-pydantic:
	$(PYTHON) -m venv $(NOPYDANTIC)
	$(NOPYDANTIC)/bin/pip install --quiet --upgrade pip
	$(NOPYDANTIC)/bin/pip install --quiet -e '.[trio,postgres,draw]' 'pytest>=8.2' 'hypothesis>=6.100'
	$(NOPYDANTIC)/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('pydantic') is not None)"
	$(NOPYDANTIC)/bin/python -m pytest -q

# The durable-run benchmark runs on SQLite, and on PostgreSQL too when
# $$FLOWKIT_TEST_POSTGRES_URL is set (eval "$$(.ci/postgres.sh)" starts a private server).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.durable
	$(BIN)/python -m benchmarks.recording

# Mutation testing of flowkit/_engine/ (not part of `make test`: it takes long; see
# docs/mutation-testing.md). MUTATE= limits it to some mutants, e.g.
# MUTATE='flowkit._engine.ledger*'.
mutate: $(STAMP)
	$(BIN)/pip install --quiet -e '.[mutate]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 $(MUTATE)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) $(NOPYDANTIC) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
