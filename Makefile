# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-sqlite bench soak serve install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/plads demo

# Runs the whole suite on SQLite and on a real PostgreSQL (see scripts/with-postgres).
test: $(STAMP)
	scripts/with-postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The reliability tests at soak strength (1,000 race trials per K, 100 follower kills); not in `make test`.
soak: $(STAMP)
	PLADS_SOAK=1 scripts/with-postgres $(BIN)/python -m pytest tests/reliability -q -p no:cacheprovider $(PYTEST_ARGS)

# Throughput figures for BENCHMARKS.md (not part of `make test`).
bench: $(STAMP)
	scripts/with-postgres $(BIN)/python bench/run.py $(BENCH_ARGS)

serve: $(STAMP)
	$(BIN)/plads serve

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis plads.db plads.db-*
