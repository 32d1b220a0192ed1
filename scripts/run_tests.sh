#!/usr/bin/env bash
# The project's test command (README, .ci/run): the whole suite in the set-up venv.
# Extra arguments go to pytest (e.g. -k engine, -x). pytest exits 5 when no test was collected,
# which counts as a failure here like any other non-zero status.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TEXTREGION_VENV:-$ROOT/.venv}"
[[ -f "$VENV/bin/textregion-env.sh" ]] || { echo "run ./scripts/setup.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$VENV/bin/textregion-env.sh"
cd "$ROOT"
python scripts/check_vision_msgs_hashes.py
exec python -m pytest "$@"
