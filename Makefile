# The README's two commands: `make demo` and `make test`. Everything runs from a local
# virtualenv (.venv) that the first command creates; only Python 3.11+, pip and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install lint typecheck unit e2e test demo bench sandboxes clean

$(STAMP): pyproject.toml constraints-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	@echo "==> Creating $(VENV) and installing the project with its tools (about a minute and a half the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints-dev.txt -e '.[dev]'
	@touch $(STAMP)
	@echo "==> $(VENV) is ready"

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy api_http sandbox_http tap_wistia target_lytics playground tests benchmarks

# Quick: everything but the tests that run Meltano (goal: under 2 minutes).
unit: install
	$(BIN)/pytest -q -m "not e2e" -n auto

# The process-level tests: `meltano run` over both sandboxes, faults, kills, CLIs, signals.
e2e: install
	$(BIN)/pytest -q -m e2e

test: lint typecheck unit e2e

demo: install
	$(BIN)/python -m playground.demo

# Both sandboxes in the foreground, where meltano.yml's sandbox environment expects them.
sandboxes: install
	$(BIN)/python -m playground.sandboxes

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .meltano output benchmarks/out .pytest_cache .mypy_cache .ruff_cache
