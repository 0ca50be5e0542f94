# The same commands locally and in CI. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint format bench install clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate the embedded SQLite database, serve on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/queueit migrate
	$(BIN)/queueit serve

## make test: the whole suite (PostgreSQL and Redis tests skip when unreachable, unless
## QUEUEIT_REQUIRE_SERVICES=1) on one worker per core, with line coverage of src/
TEST_WORKERS ?= auto
test: $(STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=$${COVERAGE_MIN:-0}

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache test-output
