# One way to run each thing. PYTHON must be 3.11 or newer.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8080

.PHONY: install run test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The embedded default: SQLite in ./pager.db, the example configuration, one process.
# The example reads a password and two secrets from the environment; unset, they get
# stand-ins (a fresh random password for alice@example.com, printed below).
run: install
	@PAGER_ALICE_PASSWORD="$${PAGER_ALICE_PASSWORD:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))')}" \
	PAGER_SLACK_PAYMENTS_URL="$${PAGER_SLACK_PAYMENTS_URL:-https://hooks.slack.com/services/T0/B0/example}" \
	PAGER_BOT_WEBHOOK_SECRET="$${PAGER_BOT_WEBHOOK_SECRET:-example-secret}" \
	sh -c '$(BIN)/pagerd apply -f examples/pager.yaml && \
	  echo "Console: http://127.0.0.1:$(PORT)/  log in as alice@example.com, password $$PAGER_ALICE_PASSWORD" && \
	  exec $(BIN)/pagerd serve --port $(PORT)'

# The domain is pure and fully specified: every branch of it must be exercised.
test: install
	$(BIN)/pytest --cov=pager.domain --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

check: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
