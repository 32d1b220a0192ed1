#!/usr/bin/env bash
# The lint gates, with the linter's automatic fixes applied first: `ruff check --fix` over the repository
# (ruff.toml), then the checks the test suite runs (textregion_ros/test/test_lint.py: ruff, mypy on
# engine/ and perception/ (mypy.ini), no internal issue numbers in comments). What is left is for a person.
# --check: report only, change nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TEXTREGION_VENV:-$ROOT/.venv}"
[[ -f "$VENV/bin/textregion-env.sh" ]] || { echo "run ./scripts/setup.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$VENV/bin/textregion-env.sh"
cd "$ROOT"
if [[ "${1:-}" != "--check" ]]; then
  python -m ruff check --fix --quiet . || true  # what it cannot fix is reported by the test below
fi
exec python -m pytest -q -p no:cacheprovider textregion_ros/test/test_lint.py
