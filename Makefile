# The two commands a fresh machine needs: `make demo` and `make test`. Both (re)build .venv idempotently.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vtrag-installed
DEMO_DIR := .demo-data

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch from the local wheel cache; a looser pin would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

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

clean:
	rm -rf $(DEMO_DIR) examples/.generated
