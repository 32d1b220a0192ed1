#!/usr/bin/env bash
# One command that makes this checkout runnable on a bare x86_64/aarch64 Linux machine:
#   .venv with torch, sam2, open_clip, timm, the ROS 2 Jazzy wheels and the interface toolchain,
#   then vision_msgs 4.1.1 and textregion_msgs built from their definitions into the venv,
#   then textregion_ros installed (editable) with its console scripts.
# Each step leaves a stamp (a hash of its inputs) in the venv; a re-run with nothing changed only
# compares stamps and takes seconds. Works unattended (CI=true, no terminal).
#
# Environment: PYTHON (interpreter to build the venv from, default python3),
#              TEXTREGION_VENV (venv path, default <repo>/.venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TEXTREGION_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
BUILD_DIR="$ROOT/.build"
STAMPS="$VENV/.textregion-stamps"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- platform checks -------------------------------------------------------------------------
arch="$(uname -m)"
case "$arch" in
  x86_64)  TORCH_PINS=(torch==2.14.1 torchvision==0.29.1) ;;
  aarch64) TORCH_PINS=(torch==2.9.1 torchvision==0.24.1) ;;
  *) die "unsupported machine '$arch' (ROS 2 Jazzy wheels exist for x86_64 and aarch64 only)" ;;
esac
"$PYTHON" - <<'PY' || die "Python 3.10-3.13 is required (the ROS 2 Jazzy wheels exist for cp310-cp313)"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
PY
for tool in cmake g++; do
  command -v "$tool" >/dev/null || die "'$tool' is needed to build the message packages (apt install cmake g++ ninja-build)"
done
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)

hash_of() {  # hash_of PATH... -> one sha256 over the contents of all files below the paths
  find "$@" -type f ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

# --- 1. venv + Python packages ---------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
export PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_DISABLE_PIP_VERSION_CHECK=1
pip_quiet() {  # pip without the notes about this machine's absent local index folders
  "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
PIP=(pip_quiet)

pip_key="$(printf '%s\n' "${TORCH_PINS[@]}" | cat - "$ROOT/scripts/requirements.txt" | sha256sum | cut -d' ' -f1)"
if ! stamp_ok python-packages "$pip_key"; then
  log "installing ${TORCH_PINS[*]} (large; from local disk where available)"
  # pip >= 25 installs editable packages through PEP 660 (old pips run the removed `setup.py develop`)
  "${PIP[@]}" install -q "pip>=25" "setuptools>=70" wheel
  "${PIP[@]}" install -q "${TORCH_PINS[@]}"
  log "installing sam2, open_clip, timm, ROS 2 Jazzy wheels and build tools"
  # sam2 compiles an optional CUDA extension by default and would pull its own torch into an
  # isolated build environment: build it against the torch installed above, without CUDA.
  SAM2_BUILD_CUDA=0 "${PIP[@]}" install -q --no-build-isolation -r "$ROOT/scripts/requirements.txt" \
    "${TORCH_PINS[@]}"
  stamp_set python-packages "$pip_key"
else
  log "Python packages up to date"
fi

# --- 2. interface packages (vision_msgs 4.1.1, textregion_msgs) ------------------------------
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
py_include="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"

build_interfaces() {  # build_interfaces NAME SOURCE_DIR
  local name="$1" src="$2" key
  key="$(hash_of "$src" "$ROOT/scripts/cmake" "$ROOT/scripts/setup.sh")"
  if stamp_ok "msgs-$name" "$key" && [[ -d "$VENV/share/$name" ]]; then
    log "$name up to date"
    return
  fi
  log "building $name from $src"
  rm -rf "$BUILD_DIR/$name"
  cmake -S "$src" -B "$BUILD_DIR/$name" "${GENERATOR[@]}" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" \
    -DBUILD_TESTING=OFF \
    -DCMAKE_PROJECT_INCLUDE="$ROOT/scripts/cmake/fix_wheel_include_dirs.cmake" \
    -DTEXTREGION_PYTHON_INCLUDE_DIR="$py_include" \
    -DTEXTREGION_NUMPY_INCLUDE_DIR="$np_include" >"$BUILD_DIR/$name.configure.log" 2>&1 \
    || { tail -40 "$BUILD_DIR/$name.configure.log"; die "configuring $name failed (log: $BUILD_DIR/$name.configure.log)"; }
  cmake --build "$BUILD_DIR/$name" -j "$(nproc)" >"$BUILD_DIR/$name.build.log" 2>&1 \
    || { tail -40 "$BUILD_DIR/$name.build.log"; die "building $name failed (log: $BUILD_DIR/$name.build.log)"; }
  cmake --install "$BUILD_DIR/$name" >/dev/null
  stamp_set "msgs-$name" "$key"
}
mkdir -p "$BUILD_DIR"
build_interfaces vision_msgs "$ROOT/vendor/vision_msgs"
build_interfaces textregion_msgs "$ROOT/textregion_msgs"

# --- 3. this package ---------------------------------------------------------------------------
pkg_key="$(hash_of "$ROOT/textregion_ros/setup.py" "$ROOT/textregion_ros/package.xml")"
if ! stamp_ok textregion_ros "$pkg_key"; then
  log "installing textregion_ros (editable) and its console scripts"
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT/textregion_ros"
  stamp_set textregion_ros "$pkg_key"
fi

# A sourceable environment for shells and scripts (tests and .ci/run source it too).
cat > "$VENV/bin/textregion-env.sh" <<ENV
# Source me: the venv, the ROS prefix it holds, and DDS confined to this machine.
source "$VENV/bin/activate"
export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_AUTOMATIC_DISCOVERY_RANGE=\${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
ENV
log "done: source $VENV/bin/textregion-env.sh"
