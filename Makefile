# The two commands a fresh machine needs: `make demo` and `make test`. Both (re)build .venv idempotently,
# from requirements.lock: every package at the version CI tested, hash-checked.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.vtrag-installed
DEMO_DIR := .demo-data

.PHONY: venv demo test lint lint-deploy lock bench clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Exactly the lock (torch is its 2.13.0+cpu wheel from the local disk); --no-deps: nothing unlocked slips in.
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve the lock after editing pyproject's dependencies (tests/test_lock.py fails until you do).
# `make lock UPGRADE=1` also moves every package to its newest allowed release.
lock: venv
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -c requirements-torch.txt \
		$(if $(UPGRADE),--upgrade) -o $(LOCK) pyproject.toml

examples/.generated: $(STAMP) examples/make_examples.py
	$(BIN)/python examples/make_examples.py examples
	touch $@

demo: venv examples/.generated
	HF_HUB_OFFLINE=1 $(BIN)/vtrag index build examples --data-dir $(DEMO_DIR)
	HF_HUB_OFFLINE=1 $(BIN)/vtrag index status --data-dir $(DEMO_DIR)
	HF_HUB_OFFLINE=1 $(BIN)/vtrag search "lighthouse keeper storm" --top-k 3 --data-dir $(DEMO_DIR)
	HF_HUB_OFFLINE=1 $(BIN)/vtrag ask "When was the lighthouse built?" --data-dir $(DEMO_DIR)

test: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# deploy/: compose file, Kubernetes manifests, Milvus Helm values, Dockerfiles; offline (deploy/lint.py).
lint-deploy: venv
	$(BIN)/python deploy/lint.py

clean:
	rm -rf $(DEMO_DIR) examples/.generated
