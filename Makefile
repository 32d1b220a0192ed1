# Entry points; each runs the set-up first (seconds when nothing changed).
SHELL := /bin/bash
.PHONY: setup test demo clean

setup:
	./scripts/setup.sh

test: setup
	./scripts/run_tests.sh

# The node on bundled photos (random weights when no real ones are cached or downloadable).
# Extra arguments: make demo DEMO_ARGS="--short" (or --frames N, --out DIR, --device cuda).
DEMO_ARGS ?=
demo: setup
	source "$${TEXTREGION_VENV:-$(CURDIR)/.venv}/bin/textregion-env.sh" && textregion-demo $(DEMO_ARGS)

clean:
	rm -rf .venv .build
