# Entry points; each runs the set-up first (seconds when nothing changed).
SHELL := /bin/bash
.PHONY: setup test demo clean

setup:
	./scripts/setup.sh

test: setup
	./scripts/run_tests.sh

clean:
	rm -rf .venv .build
