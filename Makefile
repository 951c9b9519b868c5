# The README's two commands. PYTHON may name the interpreter of a virtual environment.
PYTHON ?= python

.PHONY: quickstart test lint

quickstart:  ## install (with the export extra) and run the end-to-end demo
	PYTHON="$(PYTHON)" bash scripts/bootstrap.sh export
	$(PYTHON) -m scorebridge quickstart

test:  ## install the test dependencies and run the whole suite
	PYTHON="$(PYTHON)" bash scripts/bootstrap.sh test
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
