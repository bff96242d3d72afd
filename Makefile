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
DAYS       ?= 730
SEED       ?= 42
SIM_SHARE  ?= 0.5
MASTER_URL ?= spark://127.0.0.1:7077
# pyspark's own Spark distribution (evaluated only by the targets that use it)
SPARK_HOME  = $(shell $(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')

.DEFAULT_GOAL := help
.PHONY: help install demo demo-csv test test-fast bench bench-throughput bench-accuracy lint package \
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
	$(PY) -m restock.session $(JARS_DIR)

demo: install ## generate data; run profile, backtest, forecast, plan; summary; simulate the policy
	$(BIN)/restock generate --env $(ENV) --series $(SERIES) --days $(DAYS) --seed $(SEED) --bad-rows 0.001
	$(BIN)/restock run --env $(ENV)
	$(BIN)/restock summary --env $(ENV)
	$(BIN)/restock simulate --env $(ENV) --set simulation.sample_share=$(SIM_SHARE)

demo-csv: install ## load the sample CSVs of tests/data with `restock ingest`, then run the pipeline on them
	$(BIN)/restock ingest sales tests/data/sales.csv --env $(ENV) --warehouse warehouse-csv --as-of-date 2026-06-30
	$(BIN)/restock ingest item_params tests/data/item_params.csv --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock ingest inventory tests/data/inventory.csv --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock run --env $(ENV) --warehouse warehouse-csv
	$(BIN)/restock summary --env $(ENV) --warehouse warehouse-csv

test: install ## run the test suite (real local Spark + Delta)
	$(BIN)/pytest -q tests

test-fast: install ## pandas-level tests only (no Spark)
	$(BIN)/pytest -q tests -m "not spark"

bench: bench-throughput bench-accuracy bench-policy ## run every benchmark (long)

bench-throughput: install ## Spark forecast step vs plain statsforecast, scaling curve
	$(PY) bench/forecast_throughput.py

bench-accuracy: install ## MASE / WAPE / bias per strategy on generated data
	$(PY) bench/accuracy.py

bench-policy: install ## policy simulator: achieved service vs target, restock vs baselines
	$(PY) bench/policy.py

lint: install ## ruff
	$(BIN)/ruff check lib jobs tests bench

package: install ## build dist/restock-*.whl and dist/restock.zip (--py-files for spark-submit)
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	cd lib && rm -f ../dist/restock.zip && zip -qr ../dist/restock.zip restock -x '*__pycache__*'

cluster-up: install ## start a local Spark standalone master + worker (2 cores) in the background
	@mkdir -p .cluster
	nohup $(SPARK_HOME)/bin/spark-class org.apache.spark.deploy.master.Master \
	  --host 127.0.0.1 --port 7077 --webui-port 8090 > .cluster/master.log 2>&1 & echo $$! > .cluster/master.pid ; \
	sleep 3 ; \
	nohup $(SPARK_HOME)/bin/spark-class org.apache.spark.deploy.worker.Worker \
	  --cores 2 --memory 6g --webui-port 8091 $(MASTER_URL) > .cluster/worker.log 2>&1 & echo $$! > .cluster/worker.pid
	@echo "master at $(MASTER_URL)"

cluster-down: ## stop the local standalone cluster
	-@for p in .cluster/worker.pid .cluster/master.pid; do test -f $$p && kill $$(cat $$p) && rm -f $$p; done; true

submit: package ## spark-submit `restock run` to MASTER_URL (default: the local standalone cluster)
	SPARK_HOME=$(SPARK_HOME) $(BIN)/spark-submit --master $(MASTER_URL) \
	  --packages $$(cat $(JARS_OK)) --conf spark.jars.ivy=$(CURDIR)/$(JARS_DIR)/ivy \
	  --conf spark.pyspark.python=$(CURDIR)/$(PY) --conf spark.pyspark.driver.python=$(CURDIR)/$(PY) \
	  --driver-java-options -Dlog4j.configurationFile=file:$(CURDIR)/conf/log4j2.properties \
	  --py-files dist/restock.zip jobs/run_job.py --env cluster --warehouse $(CURDIR)/warehouse

clean: ## remove the warehouse, build output and caches (keeps .venv and .jars)
	rm -rf warehouse warehouse-csv dist build spark-warehouse metastore_db derby.log .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
