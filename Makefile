# restock — every target here is a real command the README and CI use.
# `make help` lists them.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
PY         := $(BIN)/python
JARS_DIR   := .jars
INSTALLED  := $(VENV)/.installed
JARS_OK    := $(JARS_DIR)/COORDINATES
ENV        ?= local
SERIES     ?= 500
DAYS       ?= 1095
SEED       ?= 42
SIM_SHARE  ?= 0.5
SCALE_SERIES ?= 10000
REPORT     ?= warehouse/report.html
# local standalone cluster (make cluster-up / cluster-down / submit); pids and logs in CLUSTER_DIR
CLUSTER_DIR     ?= .cluster
MASTER_PORT     ?= 7077
MASTER_UI_PORT  ?= 8090
WORKER_UI_PORTS ?= 8091,8092
WORKER_CORES    ?= 1
WORKER_MEMORY   ?= 2g
EXECUTOR_MEMORY ?= 1g
MASTER_URL      ?= spark://127.0.0.1:$(MASTER_PORT)
WAREHOUSE       ?= $(CURDIR)/warehouse
JOB             ?= run
ARGS            ?=
# shuffle and Delta snapshot partitions sized for this 2-core cluster, as in conf/local.yaml
# (conf/cluster.yaml's 400 are for a real cluster: CLUSTER_SETTINGS= keeps them)
CLUSTER_SETTINGS ?= --set spark.sql.shuffle.partitions=8 --set spark.databricks.delta.snapshotPartitions=2
CLUSTER         := $(PY) -m restock.dev.standalone
CLUSTER_OPTS     = --state-dir $(CLUSTER_DIR) --master-port $(MASTER_PORT) \
                   --master-ui-port $(MASTER_UI_PORT) --worker-ui-ports $(WORKER_UI_PORTS) \
                   --worker-cores $(WORKER_CORES) --worker-memory $(WORKER_MEMORY)
SUBMIT           = $(CLUSTER) submit --master-url $(MASTER_URL) --executor-memory $(EXECUTOR_MEMORY)
# package: the wheel, and a packed venv (wheel + requirements.lock, without pyspark, which
# every Spark node already has) that executors unpack with --archives ...#environment
VERSION     = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
WHEEL       = dist/restock-$(VERSION)-py3-none-any.whl
ENV_ARCHIVE := dist/restock-env.tar.gz
PACK_VENV   := build/pack-venv
PACK_DEPS   := $(PACK_VENV)/.deps

.DEFAULT_GOAL := help
.PHONY: help install demo demo-csv maintain bench-scale test test-fast bench bench-throughput bench-accuracy lint package \
        bench-policy cluster-up cluster-down submit clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

install: $(INSTALLED) $(JARS_OK) ## create .venv, install pinned packages and the Delta jars (no-op when done)

$(INSTALLED): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $@

$(JARS_OK): $(INSTALLED)
	@mkdir -p $(JARS_DIR)
	$(PY) -m restock.io.jars $(JARS_DIR)

demo: install ## generate data; run profile, backtest, forecast, plan; summary; simulate the policy; HTML report (one process)
	$(BIN)/restock demo --env $(ENV) --series $(SERIES) --days $(DAYS) --seed $(SEED) \
	  --sim-share $(SIM_SHARE) --out $(REPORT)

maintain: install ## drop old runs, OPTIMIZE and VACUUM the output tables: make maintain ARGS=--apply (default: dry run)
	$(BIN)/restock maintain --env $(ENV) $(ARGS)

bench-scale: install ## forecast + plan on SCALE_SERIES generated series x 365 days (10000; 100000 for the README)
	$(PY) bench/scale.py --series $(SCALE_SERIES)

demo-csv: install ## load the sample CSVs of tests/data with `restock ingest`, then run the pipeline on them
	$(BIN)/restock ingest sales tests/data/sales.csv --env $(ENV) --warehouse warehouse-csv --as-of-date 2026-06-30
	$(BIN)/restock ingest item_params tests/data/item_params.csv --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock ingest inventory tests/data/inventory.csv --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock run --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock summary --env $(ENV) --warehouse warehouse-csv

test: install ## run the test suite (real local Spark + Delta)
	$(BIN)/pytest -q tests

test-fast: install ## pandas-level tests only (no Spark)
	$(BIN)/pytest -q tests -m "not spark and not cluster"

bench: bench-throughput bench-accuracy bench-policy ## run every benchmark (long)

bench-throughput: install ## Spark forecast step vs plain statsforecast, scaling curve
	$(PY) bench/forecast_throughput.py

bench-accuracy: install ## MASE / WAPE / bias per strategy on generated data (default and calendar mix)
	$(PY) bench/accuracy.py
	$(PY) bench/accuracy.py --mix calendar --series 150 --strategies AutoETS,selection,calendar

bench-policy: install ## policy simulator: achieved service vs target, restock vs baselines
	$(PY) bench/policy.py

lint: install ## ruff
	$(BIN)/ruff check lib jobs tests bench

package: $(ENV_ARCHIVE) ## build the wheel and dist/restock-env.tar.gz (packed venv for executors)

$(WHEEL): $(INSTALLED) pyproject.toml $(shell find lib -name '*.py' -o -name py.typed)
	@mkdir -p dist && rm -f dist/restock-*.whl
	$(BIN)/pip wheel --quiet --no-deps -w dist .

$(PACK_DEPS): $(INSTALLED) pyproject.toml requirements.lock
	rm -rf $(PACK_VENV)
	$$($(PY) -c 'import sys; print(sys._base_executable)') -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/pip install --quiet -c requirements.lock .
	$(PACK_VENV)/bin/pip uninstall --quiet -y pyspark py4j
	@touch $@

$(ENV_ARCHIVE): $(PACK_DEPS) $(WHEEL)
	$(PACK_VENV)/bin/pip install --quiet --no-deps --force-reinstall $(WHEEL)
	$(BIN)/venv-pack --quiet --force -p $(PACK_VENV) -o $@
	@du -h $@ | awk '{print "packed environment: " $$1 " " $$2}'

cluster-up: install ## start a standalone master + 2 workers (1 core, 2 GiB each) on 127.0.0.1
	$(CLUSTER) up $(CLUSTER_OPTS)

cluster-down: ## stop the processes cluster-up started (by the pids in CLUSTER_DIR)
	@if [ -x $(PY) ]; then $(CLUSTER) down $(CLUSTER_OPTS); else echo "no .venv: nothing started"; fi

submit: package ## spark-submit jobs/JOB_job.py to MASTER_URL: make submit JOB=run ARGS='--run-id x'
	@if [ "$(JOB)" = run ] && [ ! -d "$(WAREHOUSE)/sales/_delta_log" ]; then \
	  echo "no sales table in $(WAREHOUSE): JOB=generate first ($(SERIES) series x $(DAYS) days)"; \
	  $(SUBMIT) generate --warehouse $(WAREHOUSE) $(CLUSTER_SETTINGS) \
	    --series $(SERIES) --days $(DAYS) --seed $(SEED) || exit 1; \
	fi
	$(SUBMIT) $(JOB) --warehouse $(WAREHOUSE) $(CLUSTER_SETTINGS) $(ARGS)

clean: ## remove the warehouse, build output and caches (keeps .venv and .jars)
	rm -rf warehouse warehouse-csv dist build spark-warehouse metastore_db derby.log .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
