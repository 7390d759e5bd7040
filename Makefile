# fieldsvc — the two commands a newcomer needs: `make run` and `make test`; a production
# server needs only `make install`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
FLASK := $(VENV)/bin/flask --app fieldsvc
FIELDSVC_PORT ?= 5000
FIELDSVC_HOST ?= 127.0.0.1
# pytest-xdist workers; each has its own SQLite files, PostgreSQL cluster and live server.
TEST_WORKERS ?= auto
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test lint format docs-screenshots system-deps pdf-deps clean

## install: what a production server needs and nothing more: the virtualenv exactly as uv.lock
## pins it without the test tools, and the Debian packages proposal PDFs need. No database,
## no demo data, no server: the next steps are `flask db upgrade` and `flask users create`.
install: | $(UV)
	rm -f $(VENV)/.synced
	$(UV) sync --frozen --no-dev --python $(PYTHON)
	@$(MAKE) --no-print-directory pdf-deps
	@echo "installed in $(VENV) (without the test tools; \`make run\` or \`make test\` add them)"

## run: install, migrate the SQLite database under instance/, load demo data if empty, serve
## (with the job worker beside it: e-mail, reminders, expiry, anchoring; stopped with it)
run: $(VENV)/.synced pdf-deps
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	$(FLASK) jobs worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host $(FIELDSVC_HOST) --port $(FIELDSVC_PORT)

## test: install everything (Debian's chromium and postgresql too, as root) and run the suite
test: $(VENV)/.synced system-deps
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## lint: ruff check and format check
lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## docs-screenshots: walk the demo tour in Chromium and refresh the images in docs/images/
docs-screenshots: $(VENV)/.synced system-deps
	$(VENV)/bin/pytest -p no:xdist tests/browser/test_tour.py \
	  tests/browser/test_reference_screens.py::test_admin_edits_a_customer_and_sees_it_in_the_history \
	  tests/browser/test_recorded_answer.py \
	  tests/browser/test_outbox.py::test_a_connection_lost_mid_send_leaves_the_item_waiting_and_it_arrives_once \
	  tests/browser/test_outbox.py::test_an_item_the_server_refuses_needs_you_with_its_message_to_fix_or_discard
	$(VENV)/bin/python -m tests.browser.tour_images

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Installs exactly what uv.lock pins (with the dev group).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# WeasyPrint renders proposal PDFs with Pango and HarfBuzz, in the DejaVu fonts.
pdf-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q 'libharfbuzz-subset.so.0' || missing="$$missing libharfbuzz-subset0"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages:$$missing — run: sudo apt-get install$$missing"; \
	  fi; \
	fi

# The tests start Chromium and a private PostgreSQL cluster from Debian's packages.
system-deps: pdf-deps
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages:$$missing — run: sudo apt-get install$$missing (their tests skip until then)"; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
