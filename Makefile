# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-sqlite bench soak serve install clean browser curl mutate

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/plads demo $(DEMO_ARGS)

# Headless Chromium, which the audit report test opens the HTML reports in: installed from
# Debian's packages when missing and we are root (else that test is skipped, or fails under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "installing chromium from Debian's packages" >&2 && apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "no chromium: the report's browser test will be skipped" >&2

# curl, which the README walk-through test runs as written: installed like the browser (else that
# test is skipped, or fails under CI=true).
curl:
	@command -v curl >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "installing curl from Debian's packages" >&2 && apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; } || \
	  echo "no curl: the README walk-through test will be skipped" >&2

# Runs the whole suite on SQLite and on a real PostgreSQL (see scripts/with-postgres).
test: $(STAMP) browser curl
	scripts/with-postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The reliability tests at soak strength (1,000 race trials per K, through the application and over HTTP;
# 100 follower kills) and the stateful ledger test with 25 times the examples, randomised; not in `make test`.
soak: $(STAMP)
	PLADS_SOAK=1 scripts/with-postgres $(BIN)/python -m pytest tests/reliability tests/api/test_race.py tests/ledger/test_stateful.py -q -p no:cacheprovider $(PYTEST_ARGS)

# Throughput figures for BENCHMARKS.md (not part of `make test`). The first run simulates the
# Copenhagen-scale city once (30-45 min) and caches it in bench/.cache; BENCH_ARGS="--history
# synthetic" uses a small generated history instead. Then the auditor's figures on the same city
# (bench/audits.py: fairness, budget scenario, counterfactual, each view as_of); AUDIT_ARGS="--years
# 0.5 --scale 0.05" times them on a small city instead.
bench: $(STAMP)
	scripts/with-postgres $(BIN)/python bench/run.py $(BENCH_ARGS)
	scripts/with-postgres $(BIN)/python bench/billing_runs.py
	scripts/with-postgres $(BIN)/python bench/audits.py $(AUDIT_ARGS)

# Mutation testing of src/rules with mutmut (not part of `make test`; about 10 minutes on two
# cores): the score and the surviving mutants are recorded in docs/testing.md.
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,mutate]"
	$(BIN)/mutmut run $(MUTATE_ARGS)
	$(BIN)/mutmut results

serve: $(STAMP)
	$(BIN)/plads serve

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis mutants plads.db plads.db-* plads-demo*.db plads-demo*.db-* plads-demo-*.html
