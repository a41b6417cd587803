# One way to run each thing. PYTHON must be 3.11 or newer.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-stamp
DEV := $(VENV)/.dev-stamp
PORT ?= 8080

.PHONY: install run test check bench mutation clean

# What Pager needs to run; `make test`, `check` and `bench` add the development tools.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

install: $(RUNTIME)

# The embedded default: SQLite in ./pager.db, the example configuration, one process. The
# example gives alice@example.com the password in PAGER_ALICE_PASSWORD (a fresh random one
# when that is unset) when it creates her, and never changes it afterwards.
run: $(RUNTIME)
	@password="$${PAGER_ALICE_PASSWORD:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))')}"; \
	applied=$$(PAGER_ALICE_PASSWORD="$$password" $(BIN)/pagerd apply -f examples/pager.yaml) \
	  || { echo "$$applied"; exit 1; }; \
	echo "$$applied"; \
	case "$$applied" in \
	  *"create user alice@example.com"*) login="password $$password";; \
	  *) login="with the password she was given when this database was made";; \
	esac; \
	echo "Console: http://127.0.0.1:$(PORT)/  log in as alice@example.com, $$login"; \
	exec $(BIN)/pagerd serve --port $(PORT)

# The domain is pure and fully specified: every branch of it must be exercised.
test: $(DEV)
	$(BIN)/pytest --cov=pager.domain --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

check: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python -m bench

# Mutants of the code below the domain against the unit and integration tests that cover
# them: a fixed, seeded sample (docs/testing.md). Too slow for CI; its figure is in the docs.
mutation: $(DEV)
	$(BIN)/python -m tests.support.mutation

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov mutants
