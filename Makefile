# Hadath — the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CAMEL_TOOLS_VERSION := 1.6.0

.PHONY: install install-bert demo test unit integration bench down clean

install: $(VENV)/.installed

# camel-tools is installed with --no-deps: its hard torch/transformers requirement (~5 GB of
# CUDA wheels) is only needed by the optional BERT recognizer (`make install-bert`).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps camel-tools==$(CAMEL_TOOLS_VERSION)
	touch $@

install-bert: $(VENV)/.installed-bert

$(VENV)/.installed-bert: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[bert]'
	touch $@

demo: install
	$(BIN)/hadath demo

# The tests cover the optional BERT recognizer too, so they install its extra.
test: install-bert
	$(BIN)/hadath infra up
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/hadath infra up
	$(BIN)/pytest tests/integration

bench: install
	$(BIN)/python bench/bench_pipeline.py

down:
	-$(BIN)/hadath services down
	-$(BIN)/hadath infra down

clean: down
	rm -rf $(VENV) build *.egg-info
