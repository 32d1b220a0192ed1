#!/usr/bin/env bash
# The project's test command (README, .ci/run): the whole suite in the set-up venv.
# Extra arguments go to pytest (e.g. -k engine, -x). pytest exits 5 when no test was collected,
# which counts as a failure here like any other non-zero status.
set -euo pipefail
# shellcheck source=scripts/use_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/use_venv.sh"
python scripts/check_vision_msgs_hashes.py
exec python -m pytest "$@"
