# Two commands on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PY) -m uv
endif
export DAGSTER_HOME ?= $(CURDIR)/.dagster
DAGSTER_PORT ?= 3000
STREAMLIT_PORT ?= 8501
TRACKING_PORT ?= 8502
OPS_PORT ?= 8503
# The ops pages' "Process now" (and `oms submit` run by make) find the webserver here.
export OMS_DAGSTER_URL ?= http://127.0.0.1:$(DAGSTER_PORT)
# Local only, no usage statistics sent anywhere. The Upload page's own limit
# (data/reference/ops.toml) is the one that counts; the server's cap is set above any sane one.
STREAMLIT_FLAGS := --server.headless true --server.address 127.0.0.1 \
	--browser.gatherUsageStats false

.PHONY: run test test-all lint sync ui bench clean-data

# uv itself comes from PyPI when the machine has none.
sync:
	@$(UV) --version >/dev/null 2>&1 || $(PY) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

## Run the whole batch (demo data is generated when the inbox is empty).
run: sync
	@mkdir -p "$(DAGSTER_HOME)"
	$(UV) run oms run --demo-if-empty

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	cd dbt_project && OMS_WAREHOUSE="$(CURDIR)/dbt_project/target/lint.duckdb" \
		$(UV) run sqlfluff lint models tests --processes 2

## Lint, then the tests. The slow ones (the week-long demo, real Dagster services) run in CI
## (CI=true) and with `make test-all`; locally `make test` leaves them out to stay quick.
test: lint
	$(UV) run pytest $(if $(CI),,-m "not slow")

test-all: lint
	$(UV) run pytest

## Dagster UI and the dashboards, on localhost.
ui: sync
	@mkdir -p "$(DAGSTER_HOME)"
	@test -f "$(DAGSTER_HOME)/dagster.yaml" || cp deploy/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	@echo "Dagster UI:  http://127.0.0.1:$(DAGSTER_PORT)"
	@echo "Dashboards (analysts):  http://127.0.0.1:$(STREAMLIT_PORT)"
	@echo "Ops workspace (upload, exception queue, phone orders, audit trail):  http://127.0.0.1:$(OPS_PORT)"
	@echo "Order tracking page (for customers): http://127.0.0.1:$(TRACKING_PORT)"
	@trap 'kill 0' EXIT INT TERM; \
	$(UV) run streamlit run dashboards/streamlit_app.py $(STREAMLIT_FLAGS) \
		--server.port $(STREAMLIT_PORT) & \
	$(UV) run streamlit run dashboards/ops_app.py $(STREAMLIT_FLAGS) \
		--server.port $(OPS_PORT) --server.maxUploadSize 10240 & \
	$(UV) run streamlit run dashboards/tracking_app.py $(STREAMLIT_FLAGS) \
		--server.port $(TRACKING_PORT) & \
	$(UV) run dagster dev -w workspace.yaml -h 127.0.0.1 -p $(DAGSTER_PORT)

## Every benchmark, the end-to-end one last; each rewrites its section of benchmarks/RESULTS.md.
bench: sync
	$(UV) run python benchmarks/bench_generator.py
	$(UV) run python benchmarks/bench_intake.py
	$(UV) run python benchmarks/bench_validation.py
	$(UV) run python benchmarks/bench_allocation.py
	$(UV) run python benchmarks/bench_allocation_stage.py
	$(UV) run python benchmarks/bench_fulfilment.py
	$(UV) run python benchmarks/bench_shipping.py
	$(UV) run python benchmarks/bench_notifications.py
	$(UV) run python benchmarks/bench_returns.py
	$(UV) run python benchmarks/bench_feeds.py
	$(UV) run python benchmarks/bench_analytics.py
	$(UV) run python benchmarks/run.py

## Forget all runtime data (warehouse, inbox, archive, outbox, Dagster runs).
clean-data:
	rm -rf data/warehouse data/inbox data/archive data/rejected data/outbox data/demo .dagster
