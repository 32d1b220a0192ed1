#!/usr/bin/env bash
# The lint gates, with the linter's automatic fixes applied first: `ruff check --fix` over the repository
# (ruff.toml), then the checks the test suite runs (textregion_ros/test/test_lint.py: ruff, mypy on
# engine/ and perception/ (mypy.ini), no internal issue numbers in comments). What is left is for a person.
# --check: report only, change nothing.
set -euo pipefail
# shellcheck source=scripts/use_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/use_venv.sh"
if [[ "${1:-}" != "--check" ]]; then
  python -m ruff check --fix --quiet . || true  # what it cannot fix is reported by the test below
fi
exec python -m pytest -q -p no:cacheprovider textregion_ros/test/test_lint.py
