#!/usr/bin/env bash
# Services the tests need that pip cannot bring: a PostgreSQL server (Debian's `postgresql` package)
# for the object-store tests. The tests start their own throwaway cluster from its binaries
# (/usr/lib/postgresql/N/bin/initdb, pg_ctl) in a temp folder, so nothing here configures or starts
# a server. Installs only when the binaries are missing; needs root (CI runs as root) or sudo.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "[services] PostgreSQL server binaries present"
  exit 0
fi
SUDO=()
[[ "$(id -u)" -ne 0 ]] && SUDO=(sudo -n)
echo "[services] installing PostgreSQL (apt-get install postgresql)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "[services] initdb missing after install" >&2; exit 1; }
