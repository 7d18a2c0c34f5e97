# The two commands: `make demo` and `make test`. Both create ./.venv if needed.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch; on a CUDA machine set TORCH_SPEC to the build you want.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.dropgan-installed

.PHONY: demo test bench lint gallery ui ui-screenshot

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

UI_STAMP := $(VENV)/.dropgan-ui-installed

$(UI_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,ui]"
	touch $@

ui: $(UI_STAMP)
	$(BIN)/dropgan ui

ui-screenshot: $(UI_STAMP)
	$(BIN)/pip install -q "playwright>=1.40"
	$(BIN)/python docs/make_ui_screenshot.py

demo: $(STAMP)
	$(BIN)/dropgan generate --example balloons -n 4 --seed 0 --out out --force

# The browser tests drive their own server and run in a process of their own: after the
# rest of the suite in the same process, the web app's Stop test hung in both CI rehearsals
# (the run never returned after Stop); on its own it passes. Cause not found yet.
test: $(STAMP)
	$(BIN)/pytest -q src tests --ignore=tests/test_ui_browser.py
	$(BIN)/pytest -q tests/test_ui_browser.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_backends.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
