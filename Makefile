# Circlekeeper: `make run` serves the demo; `make test` runs every check. Only Python >= 3.11 and make are needed.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test lint typecheck security pytest messages compilemessages clean help bench migration-checksums

help:
	@echo "make run   - set up and serve the demo network on http://127.0.0.1:$(PORT)"
	@echo "make bench - benchmarks against the issue-10 targets, pages as ratios to the floor (issue 23); results in bench/results/"
	@echo "make test  - ruff, mypy, bandit and the full pytest suite (DATABASE_URL=postgres://... for PostgreSQL)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Circlekeeper needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Compiled catalogues are committed, so a machine without gettext still runs in Spanish;
# where msgfmt exists they are rebuilt from the .po files.
compilemessages: $(VENV)/.installed
	@if command -v msgfmt >/dev/null 2>&1; then CIRCLEKEEPER_DEMO=true $(MANAGE) compilemessages --ignore=.venv -v0; \
	else echo "msgfmt not found: using the committed .mo files"; fi

messages: $(VENV)/.installed
	CIRCLEKEEPER_DEMO=true $(MANAGE) makemessages -l es --ignore=.venv --ignore=var --ignore=tests --ignore="*/tests/*" --no-obsolete
	CIRCLEKEEPER_DEMO=true $(MANAGE) makemessages -d djangojs -l es --ignore=.venv --ignore=var --no-obsolete

run: $(VENV)/.installed compilemessages
	CIRCLEKEEPER_DEMO=true $(MANAGE) migrate --noinput -v0
	CIRCLEKEEPER_DEMO=true $(MANAGE) seed_demo
	CIRCLEKEEPER_DEMO=true $(MANAGE) collectstatic --noinput -v0
	CIRCLEKEEPER_DEMO=true PORT=$(PORT) VENV=$(VENV) scripts/serve.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	CIRCLEKEEPER_SECRET_KEY=typecheck-only CIRCLEKEEPER_MASTER_KEY=typecheck-only-typecheck-only-typecheck-onl CIRCLEKEEPER_PUBLIC_URL=https://typecheck.invalid $(BIN)/mypy circlekeeper

security: $(VENV)/.installed-dev
	$(BIN)/bandit -q -c pyproject.toml -r circlekeeper

pytest: $(VENV)/.installed-dev compilemessages
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck security pytest

# Benchmarks (issue 10): not part of `make test`. DATABASE_URL=postgres://... for PostgreSQL, else SQLite under
# var/bench/; BENCH_SCALE (cases, default 100000) and BENCH_RESPONSES (default 1000000) set the sizes,
# BENCH_LOAD_USERS (default 16) and BENCH_LOAD_SECONDS (default 60) the load test. The bench extra adds locust.
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Landed migrations never change (issue 20): list new migration files in circlekeeper/migrations.sha256 after
# makemigrations; tests/test_migrations_landed.py (part of `make test`) fails when a listed file changed.
migration-checksums:
	$(PYTHON) scripts/migration_checksums.py

clean:
	rm -rf $(VENV) var/static
