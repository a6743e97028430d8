# TrialSite — the two commands a newcomer needs are `make run` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# `make test` uses PostgreSQL and Redis at their local defaults unless told otherwise.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/trialsite)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the embedded database, broker, outbox and logs live (settings read TRIALSITE_VAR_DIR too).
VAR ?= $(or $(TRIALSITE_VAR_DIR),var)
# `make run` uses the embedded defaults (SQLite + filesystem broker under $(VAR)).
RUN_ENV := DEBUG=$${DEBUG:-true} TRIALSITE_VAR_DIR=$(abspath $(VAR))

.PHONY: venv run test lint typecheck check worker beat messages clean bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: the whole service on SQLite with a worker and beat on the filesystem broker
# The web server and the worker run in the background of one shell that waits for them; a trap
# stops both (and runserver's autoreload child) on Ctrl-C and on a SIGTERM sent to make, which
# GNU make passes on to the recipe's shell. A foreground runserver would delay the trap until
# it exited by itself.
run: venv
	mkdir -p $(VAR)
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo "Starting the Celery worker with beat (log: $(VAR)/worker.log) and the web server on http://$(HOST):$(PORT)/admin/"
	$(RUN_ENV) $(BIN)/celery -A trialsite worker -B -Q default,reminders --concurrency 2 \
		--schedule $(VAR)/celerybeat-schedule --loglevel INFO > $(VAR)/worker.log 2>&1 & worker=$$!; \
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT) & web=$$!; \
	stop() { trap - INT TERM EXIT; pkill -TERM -P $$web 2>/dev/null; kill -TERM $$web $$worker 2>/dev/null; wait; }; \
	trap stop INT TERM EXIT; \
	wait $$web

## test: the whole suite on PostgreSQL and Redis
test: venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy .

check: lint typecheck test

worker: venv
	$(BIN)/celery -A trialsite worker -Q default,reminders --loglevel INFO

beat: venv
	$(BIN)/celery -A trialsite beat --schedule $(VAR)/celerybeat-schedule --loglevel INFO

messages: venv
	$(BIN)/python manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'var/*'
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf var/broker var/celerybeat-schedule* var/trialsite.sqlite3
