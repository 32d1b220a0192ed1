# Sourced by the scripts that run inside the set-up venv (run_tests.sh, lint.sh): ROOT, the venv's
# environment (TEXTREGION_VENV or .venv), and the repository root as the working directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TEXTREGION_VENV:-$ROOT/.venv}"
[[ -f "$VENV/bin/textregion-env.sh" ]] || { echo "run ./scripts/setup.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$VENV/bin/textregion-env.sh"
cd "$ROOT"
