# The user's interface. `make run` and `make test` are the two set-up commands of a fresh clone:
# each creates the virtualenv and installs what it needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test lint format opensearch clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## test: lint, then the whole suite (unit + integration on a real OpenSearch node it starts).
test: $(INSTALLED) lint
	$(BIN)/python -m localdev.opensearch_node fetch
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## opensearch: a local OpenSearch node on 127.0.0.1 until Ctrl-C (prints its URL).
opensearch: $(INSTALLED)
	$(BIN)/python -m localdev.opensearch_node serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
