# Two entry points on a fresh Debian/Ubuntu machine with Python 3.11:
#   make run   — the whole platform on embedded defaults (SQLite, Tansu broker, Redis)
#   make test  — the test suite against real MySQL/MariaDB, Redis and a Kafka broker
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha1sum | cut -c1-12)
TEST_DATABASE_URL ?= mysql://root@127.0.0.1:3306/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/14

.PHONY: run test deps system-packages clean

run: $(STAMP)
	$(PY) -m exchange_site.devrun

test: $(STAMP)
	@# alerts raised by the processes under test go to the test Redis, not the machine's db 0
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) ALERT_REDIS_URL=$(TEST_REDIS_URL) \
	  ALERT_REDIS_KEY=test:alerts:make-test $(VENV)/bin/pytest $(PYTEST_ARGS)

deps: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt
	@$(MAKE) --no-print-directory system-packages
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

# mysqlclient builds from source: it needs pkg-config and the MariaDB client headers.
system-packages:
	@if ! pkg-config --exists mariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing pkg-config libmariadb-dev python3-venv"; \
	    (apt-get install -y -q pkg-config libmariadb-dev python3-venv >/dev/null || \
	     (apt-get update -q >/dev/null && apt-get install -y -q pkg-config libmariadb-dev python3-venv >/dev/null)); \
	  else \
	    echo "need pkg-config and libmariadb-dev (run as root or: sudo apt-get install pkg-config libmariadb-dev)"; exit 1; \
	  fi; \
	fi

clean:
	rm -rf .run
