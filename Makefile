# The two commands: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest redis install bench clean flower

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "xerosync needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

redis:
	@scripts/ensure-redis

run: install redis
	$(BIN)/xerosync db upgrade
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# Flower alone, behind basic auth from FLOWER_USER/FLOWER_PASSWORD (never on its command line).
flower: install redis
	$(BIN)/xerosync flower

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy xerosync

pytest: install redis
	@scripts/ensure-test-tools
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck pytest

bench: install redis
	@for script in bench/[!_]*.py; do \
		module=bench.$$(basename $$script .py); echo "== $$module"; \
		$(BIN)/python -m $$module || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
