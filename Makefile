# restock — every target here is a real command the README and CI use.
# `make help` lists them.

SHELL      := /bin/bash
# Spark line: 4 (default: Spark 4.2 + Delta 4.4, Scala 2.13) or 3.5 (Spark 3.5 + Delta 3.3,
# Scala 2.12, for clusters that have not moved). Each line has its own lock, venv and jar folder.
SPARK      ?= 4
ifeq ($(SPARK),4)
LINE       :=
else ifeq ($(SPARK),3.5)
LINE       := -spark3.5
else
$(error SPARK=$(SPARK): the supported lines are SPARK=4 (default) and SPARK=3.5)
endif
LOCK       := requirements$(LINE).lock
VENV       := .venv$(LINE)
BIN        := $(VENV)/bin
PY         := $(BIN)/python
JARS_DIR   := .jars$(LINE)
INSTALLED  := $(VENV)/.installed
# the interpreter for a new venv: PYTHON=... if given, else the first of these that is
# Python 3.11-3.13 with venv (pyproject's requires-python; the locks were tested on 3.11);
# evaluated only when a venv is made
PYTHON_MIN := 3.11
PYTHON_MAX := 3.13
PYTHON_CANDIDATES ?= python3.11 python3.12 python3.13 python3 \
                     $(wildcard $(HOME)/.pyenv/versions/3.1[1-3]*/bin/python3)
PYTHON_OK   = "import sys, venv, ensurepip; v = sys.version_info[:2]; \
               sys.exit(not ($(subst .,$(comma),$(PYTHON_MIN)),) <= v <= ($(subst .,$(comma),$(PYTHON_MAX)),))"
comma      := ,
ifeq ($(origin PYTHON),undefined)
PYTHON      = $(firstword $(foreach p,$(PYTHON_CANDIDATES),\
                $(shell command -v $(p) >/dev/null 2>&1 && $(p) -c $(PYTHON_OK) 2>/dev/null && echo $(p))))
endif
JARS_OK    := $(JARS_DIR)/COORDINATES
ENV        ?= local
SERIES     ?= 300
DAYS       ?= 1095
SEED       ?= 42
SIM_SHARE  ?= 0.5
SCALE_SERIES ?= 10000
# pytest-xdist workers for make test / test-smoke, each with its own Spark session. The tests
# of a file with a module fixture share a worker (its fixture is built once); every other test
# goes to whichever worker is free (--dist loadscope, scopes set in tests/conftest.py). Most of
# the suite waits on Spark's and Delta's per-job latency, so 2 workers use this 2-core
# machine's idle core. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
PYTEST       = $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope
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
WAREHOUSE       ?= $(CURDIR)/warehouse$(LINE)
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
ENV_ARCHIVE := dist/restock-env$(LINE).tar.gz
PACK_VENV   := build/pack-venv$(LINE)
PACK_DEPS   := $(PACK_VENV)/.deps

# the local standalone cluster runs the default line's Spark, jars and packed environment
SPARK4_ONLY  = if [ -n "$(LINE)" ]; then echo "cluster-up and submit run the default Spark 4 line: drop SPARK=$(SPARK)" >&2; exit 1; fi

.DEFAULT_GOAL := help
.PHONY: help install check-python demo demo-csv maintain bench-scale test test-fast test-smoke bench bench-throughput bench-accuracy lint package \
        bench-policy cluster-up cluster-down submit clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

install: $(INSTALLED) $(JARS_OK) ## create .venv, install pinned packages and the Delta jars (SPARK=3.5: .venv-spark3.5)

check-python: ## say which interpreter a new venv would use (Python $(PYTHON_MIN)-$(PYTHON_MAX))
	@if [ -z "$(PYTHON)" ]; then \
	  echo "no Python $(PYTHON_MIN)-$(PYTHON_MAX) with venv found (tried: $(PYTHON_CANDIDATES));" \
	       "install one or pass PYTHON=/path/to/python3.11" >&2; exit 1; fi
	@$(PYTHON) -c $(PYTHON_OK) || { echo "PYTHON=$(PYTHON) is not Python" \
	  "$(PYTHON_MIN)-$(PYTHON_MAX) with venv" >&2; exit 1; }
	@echo "python for new venvs: $(PYTHON) ($$($(PYTHON) -V))"

$(INSTALLED): pyproject.toml $(LOCK)
	@test -x $(PY) || { $(MAKE) --no-print-directory check-python && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[dev]"
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
	$(PYTEST) tests

test-smoke: install ## the end-to-end run and ingest tests, marked smoke (CI runs them with SPARK=3.5)
	$(PYTEST) -m smoke tests/test_pipeline.py tests/test_ingest.py

test-fast: install ## pandas-level tests only (no Spark)
	$(BIN)/pytest -q tests -m "not spark and not cluster"

bench: bench-throughput bench-accuracy bench-policy ## run every benchmark (long)

bench-throughput: install ## Spark forecast step vs plain statsforecast, scaling curve
	$(PY) bench/forecast_throughput.py

bench-accuracy: install ## MASE / RMSSE / WAPE / bias / CPU per strategy and plain statsforecast baselines: the three real sets at their grain, generated (default and calendar mix)
	$(PY) bench/accuracy.py --dataset rossmann
	$(PY) bench/accuracy.py --dataset walmart --series 300
	$(PY) bench/accuracy.py --dataset carparts --series 3000
	$(PY) bench/accuracy.py
	$(PY) bench/accuracy.py --mix calendar --series 150 \
	  --strategies AutoETS,selection,default,calendar,sf_AutoETS,sf_MSTL

bench-policy: install ## policy simulator: achieved service vs target, restock vs baselines
	$(PY) bench/policy.py

lint: install ## ruff
	$(BIN)/ruff check lib jobs tests bench

package: $(ENV_ARCHIVE) ## build the wheel and dist/restock-env.tar.gz (packed venv for executors)

$(WHEEL): $(INSTALLED) pyproject.toml $(shell find lib -name '*.py' -o -name py.typed)
	@mkdir -p dist && rm -f dist/restock-*.whl
	$(BIN)/pip wheel --quiet --no-deps -w dist .

# the executors' packages: restock's and delta-spark's dependencies at the lock's versions,
# without pyspark and py4j (the cluster's Spark brings its own; restock/dev/pack.py)
$(PACK_DEPS): $(INSTALLED) pyproject.toml $(LOCK)
	rm -rf $(PACK_VENV)
	$$($(PY) -c 'import sys; print(sys._base_executable)') -m venv $(PACK_VENV)
	$(PY) -m restock.dev.pack > $(PACK_VENV)/requirements.txt
	$(PACK_VENV)/bin/pip install --quiet -c $(LOCK) -r $(PACK_VENV)/requirements.txt
	$(PACK_VENV)/bin/pip install --quiet --no-deps -c $(LOCK) delta-spark
	@touch $@

$(ENV_ARCHIVE): $(PACK_DEPS) $(WHEEL)
	$(PACK_VENV)/bin/pip install --quiet --no-deps --force-reinstall $(WHEEL)
	$(BIN)/venv-pack --quiet --force -p $(PACK_VENV) -o $@
	@du -h $@ | awk '{print "packed environment: " $$1 " " $$2}'

cluster-up: install ## start a standalone master + 2 workers (1 core, 2 GiB each) on 127.0.0.1
	@$(SPARK4_ONLY)
	$(CLUSTER) up $(CLUSTER_OPTS)

cluster-down: ## stop the processes cluster-up started (by the pids in CLUSTER_DIR)
	@if [ -x $(PY) ]; then $(CLUSTER) down $(CLUSTER_OPTS); else echo "no .venv: nothing started"; fi

submit: package ## spark-submit jobs/JOB_job.py to MASTER_URL: make submit JOB=run ARGS='--run-id x'
	@$(SPARK4_ONLY)
	@if [ "$(JOB)" = run ] && [ ! -d "$(WAREHOUSE)/sales/_delta_log" ]; then \
	  echo "no sales table in $(WAREHOUSE): JOB=generate first ($(SERIES) series x $(DAYS) days)"; \
	  $(SUBMIT) generate --warehouse $(WAREHOUSE) $(CLUSTER_SETTINGS) \
	    --series $(SERIES) --days $(DAYS) --seed $(SEED) || exit 1; \
	fi
	$(SUBMIT) $(JOB) --warehouse $(WAREHOUSE) $(CLUSTER_SETTINGS) $(ARGS)

clean: ## remove the warehouses, build output and caches (keeps the venvs and jar folders)
	rm -rf warehouse warehouse-spark3.5 warehouse-csv dist build spark-warehouse metastore_db derby.log .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
