# The two commands: `make run` (set up + the local app) and `make test` (set up + tests).
.PHONY: setup setup-test run practice test lint format bench clean

ROLE ?= Backend engineer
SENIORITY ?= mid
SKILLS ?= python,sql
PYTEST_ARGS ?=

setup:
	@bash scripts/setup.sh

# The tests also need Debian's PostgreSQL server binaries (`make run` does not).
setup-test:
	@bash scripts/setup.sh --test

run: setup
	.venv/bin/interviewer serve

practice: setup
	.venv/bin/interviewer practice --text --role "$(ROLE)" --seniority $(SENIORITY) --skills "$(SKILLS)"

bench: setup
	.venv/bin/python benchmarks/voice_latency.py

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# pytest exits 5 when it collected no tests: treat that as a failure, never as a pass.
test: setup-test lint
	@.venv/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
