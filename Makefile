# carehub — the two commands that matter are `make demo` and `make test` (see README.md).
# Every target installs into .venv from constraints.txt, so a fresh clone gets the same versions.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := core drivers gateway ingest alerts provisioning firmware_sim api billing carehub

.PHONY: demo test lint typecheck bench bench-decode bench-ingest bench-radio bench-gateway bench-billing bench-alerts bench-api bench-fhir bench-webhooks install clean ensure-mosquitto

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "carehub needs Python 3.11 or newer; set PYTHON=python3.11")'
	@echo "==> creating $(VENV) and installing pinned dependencies (constraints.txt)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

## The whole system on embedded defaults: private PostgreSQL, a private broker, simulated hubs, ingest.
demo: $(STAMP)
	$(BIN)/carehub demo $(ARGS)

ensure-mosquitto:
	@scripts/ensure-mosquitto

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Lint, type-check and the full test suite against real PostgreSQL and Mosquitto.
test: $(STAMP) ensure-mosquitto lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks print ratios against baselines measured in the same run (never timed assertions).
## `make bench-ingest ARGS="--messages 5000"` runs one of them with its own options.
bench: bench-decode bench-ingest bench-radio bench-gateway bench-billing bench-alerts bench-api bench-fhir bench-webhooks

bench-decode: $(STAMP)
	$(BIN)/python bench/decode.py

bench-ingest: $(STAMP) ensure-mosquitto
	$(BIN)/python bench/ingest.py $(ARGS)

bench-radio: $(STAMP)
	$(BIN)/python bench/radio.py $(ARGS)

bench-billing: $(STAMP)
	$(BIN)/python bench/billing.py $(ARGS)

bench-alerts: $(STAMP) ensure-mosquitto
	$(BIN)/python bench/alerts.py $(ARGS)

bench-gateway: $(STAMP) ensure-mosquitto
	$(BIN)/python bench/gateway.py $(ARGS)

bench-fhir: $(STAMP)
	$(BIN)/python bench/fhir.py $(ARGS)

bench-api: $(STAMP)
	$(BIN)/python bench/api.py $(ARGS)

bench-webhooks: $(STAMP)
	$(BIN)/python -P bench/webhooks.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
