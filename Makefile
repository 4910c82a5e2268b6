# Two commands matter: `make run` and `make test`. Everything else is for developers and CI.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test setup lint types contracts checks messages clean

setup:
	@scripts/bootstrap

run: setup
	@$(BIN)/huike run --port $(PORT)

test: setup
	@scripts/test

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

checks: setup
	$(BIN)/python manage.py makemigrations --check --dry-run
	scripts/deploy-check

# Re-extract translatable text and compile; the compiled .mo files are committed so a machine
# without GNU gettext still shows Chinese.
messages: setup
	$(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --add-location file \
		--ignore=.venv --ignore=var --ignore=tests --ignore=bench
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	rm -rf $(VENV) var/static
