# Entry points; each runs the set-up first (seconds when nothing changed).
SHELL := /bin/bash
.PHONY: setup test lint demo clean

setup:
	./scripts/setup.sh

test: setup
	./scripts/run_tests.sh

# ruff's automatic fixes, then the lint gates of the suite (scripts/lint.sh --check: report only).
lint: setup
	./scripts/lint.sh

# The node on bundled photos (random weights when no real ones are cached or downloadable).
# Extra arguments: make demo DEMO_ARGS="--short" (or --frames N, --out DIR, --device cuda).
DEMO_ARGS ?=
demo: setup
	source "$${TEXTREGION_VENV:-$(CURDIR)/.venv}/bin/textregion-env.sh" && textregion-demo $(DEMO_ARGS)

clean:
	rm -rf .venv .build
