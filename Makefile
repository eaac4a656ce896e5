# The user's interface. `make run` and `make test` are the two set-up commands of a fresh clone:
# each creates the virtualenv and installs what it needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BROWSER := tests/browser/node_modules/.installed
# WordNet 3.0, for the test that rebuilds the local labeler's taxonomy (scripts/build_taxonomy.py).
WORDNET := /usr/share/wordnet/data.noun
PYTEST_ARGS ?=
STAGE ?= dev
# ENGINE=elasticsearch-6.8.23 etc. picks the node of `make search-node` and of the tests' own
# node; ENGINES="..." narrows `make test-engines` (both are read from the environment).
DEPLOY_ARGS ?=

.PHONY: run run-once test test-engines search-node unit lint format openapi config-docs opensearch bench bench-ingest bench-search bench-embedded \
	bench-cold-start bench-labeler bench-flood chaos plan deploy status teardown package gallery \
	open-dashboards dashboards bench-backfill redrive relabel compact migrate clean

$(INSTALLED): requirements.txt requirements-local.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Debian's Chromium and playwright-core for the gallery's browser test (not needed by make run).
$(BROWSER): tests/browser/package.json tests/browser/package-lock.json
	command -v chromium >/dev/null || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: the whole pipeline locally (no AWS account): uploads the samples, serves until Ctrl-C.
## PORT= picks the API's port (default 8000, 0: any free one); ACCESS_LOG=1 logs each request.
run: $(INSTALLED)
	$(BIN)/python -m localdev.run $(if $(PORT),--port $(PORT)) $(if $(ACCESS_LOG),--access-log)

## run-once: the same flow, prints a summary and exits (used by tests and CI).
run-once: $(INSTALLED)
	$(BIN)/python -m localdev.run --once --port 0

## test: lint, then the whole suite (unit, integration on a real OpenSearch 2.19 node it
## starts, the local pipeline, the browser test), then `make test-engines` (every other engine;
## skipped when PYTEST_ARGS narrows the run).
$(WORDNET):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wordnet-base

test: $(INSTALLED) $(BROWSER) $(WORDNET) lint
	$(BIN)/python -m localdev.search_node fetch
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,$(BIN)/python -m localdev.engine_matrix)

## test-engines: tests/integration and tests/contract against every engine of the support
## matrix (README "Supported search engines"), one node at a time, then a pass/fail table with wall times;
## ENGINES="elasticsearch-6.8.23 opensearch-3.8.0" narrows it.
test-engines: $(INSTALLED)
	$(BIN)/python -m localdev.engine_matrix

## unit: the unit tests only, in seconds (no OpenSearch node, no browser, no lint).
unit: $(INSTALLED)
	$(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## openapi: regenerate openapi.json from the routes (a test fails when it is stale).
openapi: $(INSTALLED)
	$(BIN)/python -m localdev.openapi

## config-docs: regenerate README.md's table of environment variables from chalicelib/settings.py
## (a test fails when it is stale).
config-docs: $(INSTALLED)
	$(BIN)/python -m localdev.config_docs

## search-node: a local node of ENGINE (default opensearch-2.19.6) on 127.0.0.1 until Ctrl-C
## (prints its URL); `SEARCH_ENDPOINT=<url> make run` indexes into it.
search-node: $(INSTALLED)
	$(BIN)/python -m localdev.search_node serve

## opensearch: the same as `make search-node` (its old name).
opensearch: search-node

## bench: every benchmark (tables on stdout, JSON in artifacts/bench/); about 20 minutes,
## most of it loading 1M documents. BENCH_ARGS reach each one.
bench: bench-ingest bench-search bench-cold-start bench-labeler

## bench-ingest / bench-search / bench-cold-start / bench-labeler: one benchmark each;
## BENCH_ARGS reach it (e.g. make bench-search BENCH_ARGS="--sizes 10000").
bench-ingest: $(INSTALLED)
	$(BIN)/python -m bench.ingest $(BENCH_ARGS)

bench-search: $(INSTALLED)
	$(BIN)/python -m bench.search $(BENCH_ARGS)

## bench-embedded: the embedded SQLite store at 10k and 100k images, today's layout beside the
## one before issue 14 (about 12 minutes, most of it loading; BENCH_ARGS="--sizes 10000").
bench-embedded: $(INSTALLED)
	$(BIN)/python -m bench.embedded_search $(BENCH_ARGS)

bench-cold-start: $(INSTALLED)
	$(BIN)/python -m bench.cold_start $(BENCH_ARGS)

bench-labeler: $(INSTALLED)
	$(BIN)/python -m bench.labeler $(BENCH_ARGS)

## bench-flood: 3,000 images through S3 -> SQS -> 20 pollers at a 25 TPS Rekognition quota,
## today's settings beside REKOGNITION_TPS (README, "Rekognition quota and floods"). About 10
## minutes, so not in `make bench`; BENCH_ARGS="--images 300" takes about 2 minutes.
bench-flood: $(INSTALLED)
	$(BIN)/python -m bench.flood $(BENCH_ARGS)

## bench-backfill: localdev.backfill against a bare send_message_batch loop on a moto server
## (100,000 objects: about 30 minutes, 11 of them loading moto; BENCH_ARGS="--objects 5000").
bench-backfill: $(INSTALLED)
	$(BIN)/python -m bench.backfill $(BENCH_ARGS)

## chaos: fault injection (OpenSearch killed mid-run, throttling, poison messages, API fuzzing).
chaos: $(INSTALLED)
	$(BIN)/python -m bench.chaos $(BENCH_ARGS)

## plan: the preflight checks and what `make deploy` would create or change; changes nothing.
plan: $(INSTALLED)
	$(BIN)/python -m localdev.aws plan --stage $(STAGE) $(DEPLOY_ARGS)

## deploy: preflight, then create or update everything for STAGE (default dev) in your AWS
## account; safe to re-run from any clone.
deploy: $(INSTALLED)
	$(BIN)/python -m localdev.aws deploy --stage $(STAGE) $(DEPLOY_ARGS)

## status: stack, functions, partial-batch flag, queue and dead-letter depths of STAGE.
status: $(INSTALLED)
	$(BIN)/python -m localdev.aws status --stage $(STAGE)

## teardown: delete everything of STAGE (asks first; YES=1 skips the question).
teardown: $(INSTALLED)
	$(BIN)/python -m localdev.aws teardown --stage $(STAGE) $(if $(YES),--yes)

## package: chalice package for SAM/CloudFormation/CDK users (build/STAGE/sam.json; docs/package.md).
package: $(INSTALLED)
	$(BIN)/python -m localdev.aws.package --stage $(STAGE) --out build/$(STAGE)

## gallery: the deployed STAGE's gallery on http://127.0.0.1 through a proxy that signs each
## request with your AWS credentials (or adds the stage's API key); nothing is opened in AWS.
gallery: $(INSTALLED)
	$(BIN)/python -m localdev.aws gallery --stage $(STAGE) $(if $(PORT),--port $(PORT))

## open-dashboards: STAGE's OpenSearch Dashboards / Kibana through the same signing proxy.
open-dashboards: $(INSTALLED)
	$(BIN)/python -m localdev.aws open-dashboards --stage $(STAGE) $(if $(PORT),--port $(PORT))

## dashboards: import the saved objects into STAGE's domain, or into URL=http://localhost:5601.
dashboards: $(INSTALLED)
	$(BIN)/python -m localdev.aws dashboards $(if $(URL),--url $(URL),--stage $(STAGE))

## redrive: move STAGE's dead-letter queue back to its queue (after a fix; README "Operations").
redrive: $(INSTALLED)
	$(BIN)/python -m localdev.aws redrive --stage $(STAGE) $(if $(RATE),--rate $(RATE))

## relabel: label STAGE's live images under PREFIX= again (SINCE= only those indexed before it).
relabel: $(INSTALLED)
	$(if $(filter undefined,$(origin PREFIX)),$(error set PREFIX=, e.g. PREFIX=2026/ (PREFIX= relabels the whole bucket)))
	$(BIN)/python -m localdev.aws relabel --stage $(STAGE) --prefix "$(PREFIX)" \
		$(if $(SINCE),--since $(SINCE)) $(if $(RATE),--rate $(RATE))

## compact: delete STAGE's tombstones older than its TOMBSTONE_RETENTION_DAYS (default 30).
compact: $(INSTALLED)
	$(BIN)/python -m localdev.aws compact --stage $(STAGE)

## migrate: copy STAGE's index to the current mapping version, swap the alias (DELETE_OLD=1 after).
migrate: $(INSTALLED)
	$(BIN)/python -m localdev.aws migrate --stage $(STAGE) $(if $(DELETE_OLD),--delete-old)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/browser/node_modules
