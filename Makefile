# The two commands a fresh machine needs: `make demo` and `make test`. Both (re)build .venv idempotently,
# from requirements.lock: every package at the version CI tested, hash-checked.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.vtrag-installed
DEMO_DIR := .demo-data

.PHONY: venv demo test lint lint-deploy lock bench clean reader

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

# The trained reader answers ship with (docs/READER.md). Training needs a CUDA GPU (~100 s on an H200; about
# two hours on 2 CPU cores with --bf16 --threads 2); the export to int8 ONNX writes the folder that
# Settings.reader_dir picks up by default.
SQUAD ?= /work/shared/evaldata/squad-v1.1-dev
DEVICE ?= cuda
reader: venv
	mkdir -p build
	HF_HUB_OFFLINE=1 $(BIN)/vtrag reader train $(SQUAD) --exclude $(SQUAD)/sample_1000 --out build/squad-minilm \
		--epochs 3 --lr 1e-4 --batch-size 32 --negatives 2 --seed 13 --device $(DEVICE) --json > build/train.jsonl
	HF_HUB_OFFLINE=1 $(BIN)/vtrag reader export build/squad-minilm --out decoder/readers/squad-minilm-int8 --json

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
