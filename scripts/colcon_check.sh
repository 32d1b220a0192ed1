#!/usr/bin/env bash
# The robot's path, checked in CI after `make test`: build the packages with colcon the way a robot
# does, then start the node through the installed executable (what `ros2 run` calls) in a clean
# environment, feed it one frame and queries over real DDS (confined to this machine) and check that
# ~/detections and ~/label_info arrive and that SIGINT stops it.
#
# Why not just the venv: `make test` runs the code from the source tree (editable install), which
# hides packaging mistakes a robot would hit: a file missing from setup.py's data_files, a
# console script in the wrong place, a preset that is not installed, a message package that only
# works because the venv has its own copy. Here nothing of this repository is importable except
# through the colcon workspace's install/ (and build/, for --symlink-install).
#
# What stands in for the robot's system (a robot has these from apt and rosdep):
#   - a "system Python": a fresh venv made from the interpreter .venv was made from, holding colcon
#     (colcon-common-extensions from PyPI) and nothing else of ours; the installed console scripts
#     get it as their shebang, as /usr/bin/python3 on a robot;
#   - setuptools 68.1.2 (Ubuntu 24.04's, what Jazzy builds with) first on PYTHONPATH for the build;
#   - the ROS 2 Jazzy wheels and third-party Python packages (torch, sam2, open_clip, numpy...) from
#     .venv, as an underlay (like `source /opt/ros/jazzy/setup.bash`): a folder of links to every
#     entry of .venv's site-packages EXCEPT this repository's textregion_ros (editable install),
#     vision_msgs and textregion_msgs, and no .pth files.
#
# Usage: scripts/colcon_check.sh [--no-symlink-install]   (CI: the README's --symlink-install)
# Needs `make setup` first (.venv). Environment: TEXTREGION_VENV (default <repo>/.venv).
# Scratch space: .build/colcon_ws (wiped each run), .build/colcon-tools (cached, stamped).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TEXTREGION_VENV:-$ROOT/.venv}"
BUILD_DIR="$ROOT/.build"
TOOLS="$BUILD_DIR/colcon-tools"
WS="$BUILD_DIR/colcon_ws"
UNDERLAY_SITE="$BUILD_DIR/colcon-underlay-site"
# colcon as measured in ../shared notes (colcon-core 0.21.3, colcon-ros 0.5.0); Ubuntu 24.04's setuptools.
COLCON_PINS=(colcon-common-extensions==0.3.0 colcon-core==0.21.3 colcon-ros==0.5.0)
SETUPTOOLS_PIN="setuptools==68.1.2"
BUILD_TIMEOUT_S=600   # about 35 s on 2 idle cores, minutes when other jobs share them
PROBE_TIMEOUT_S=360   # above the probe's own waits (start 150 s, frame 120 s, stop 30 s)

SYMLINK_INSTALL=(--symlink-install)
case "${1:-}" in
  "") ;;
  --no-symlink-install) SYMLINK_INSTALL=() ;;
  *) echo "usage: $0 [--no-symlink-install]" >&2; exit 2 ;;
esac

log() { printf '[colcon] %s\n' "$*"; }
die() { printf '[colcon] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

[[ -x "$VENV/bin/python" && -f "$VENV/bin/textregion-env.sh" ]] || die "no set-up venv at $VENV: run 'make setup' first"
for tool in cmake g++; do
  command -v "$tool" >/dev/null || die "'$tool' is needed to build the message packages"
done
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
BASE_PYTHON="$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)')"
[[ -x "$BASE_PYTHON" ]] || die "cannot find the interpreter $VENV was made from ($BASE_PYTHON)"

# --- 1. colcon and setuptools 68.1.2 in their own prefix (cached) ------------------------------
export PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_DISABLE_PIP_VERSION_CHECK=1
tools_key="$(printf '%s\n' "$BASE_PYTHON" "$("$BASE_PYTHON" -V 2>&1)" "${COLCON_PINS[@]}" "$SETUPTOOLS_PIN" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$TOOLS/stamp" || "$(cat "$TOOLS/stamp")" != "$tools_key" ]]; then
  start=$(now)
  log "installing ${COLCON_PINS[*]} into $TOOLS (a Python of its own, made from $BASE_PYTHON)"
  rm -rf "$TOOLS"
  "$BASE_PYTHON" -m venv "$TOOLS/python"
  pip_quiet() {  # pip without the notes about this machine's absent local index folders
    "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  }
  pip_quiet "$TOOLS/python/bin/python" -m pip install -q "${COLCON_PINS[@]}" "$SETUPTOOLS_PIN"
  pip_quiet "$TOOLS/python/bin/python" -m pip install -q --no-deps --target "$TOOLS/setuptools" "$SETUPTOOLS_PIN"
  printf '%s' "$tools_key" > "$TOOLS/stamp"
  log "colcon tools installed in $(( $(now) - start )) s"
else
  log "colcon tools up to date ($TOOLS)"
fi
ROBOT_PYTHON="$TOOLS/python/bin/python"

# --- 2. the underlay: ROS wheels and third-party packages from .venv, none of this repository -----
rm -rf "$UNDERLAY_SITE"
mkdir -p "$UNDERLAY_SITE"
shopt -s nullglob dotglob
for entry in "$SITE"/*; do
  name="$(basename "$entry")"
  case "$name" in
    textregion_ros*|textregion_msgs*|vision_msgs*|__editable__*|*.pth|__pycache__) continue ;;
  esac
  ln -s "$entry" "$UNDERLAY_SITE/$name"
done
shopt -u nullglob dotglob
# Library path as the ROS wheels' bootstrapper (a .pth, not used here) or /opt/ros/<distro>/setup.bash sets it.
ros_libs="$VENV/lib"
for dir in "$SITE"/ros_*.libs; do [[ -d "$dir" ]] && ros_libs="$ros_libs:$dir"; done
tool_path=""
for tool in cmake g++ ninja; do
  dir="$(dirname "$(command -v "$tool" 2>/dev/null || echo /usr/bin/true)")"
  [[ ":$tool_path:" == *":$dir:"* ]] || tool_path="${tool_path:+$tool_path:}$dir"
done

# --- 3. a scratch workspace with copies of the three packages -----------------------------------
rm -rf "$WS"
mkdir -p "$WS/src"
cp -a "$ROOT/textregion_msgs" "$ROOT/textregion_ros" "$WS/src/"
cp -a "$ROOT/vendor/vision_msgs" "$WS/src/"
rm -f "$WS/src/vision_msgs/COLCON_IGNORE"
find "$WS/src" \( -name __pycache__ -o -name '*.egg-info' -o -name .pytest_cache \) -prune -exec rm -rf {} +

cat > "$WS/underlay.bash" <<ENV
# Stands in for 'source /opt/ros/jazzy/setup.bash' plus the rosdep-installed Python packages.
export PATH="$TOOLS/python/bin:$tool_path:/usr/bin:/bin"
export AMENT_PREFIX_PATH="$VENV"
export CMAKE_PREFIX_PATH="$VENV"
export LD_LIBRARY_PATH="$ros_libs"
export PYTHONPATH="$UNDERLAY_SITE"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST  # the probe also claims a domain id (local_dds)
export ROS_DISTRO=jazzy ROS_VERSION=2 ROS_PYTHON_VERSION=3
export PYTHONUNBUFFERED=1
ENV

clean_shell() {  # clean_shell SCRIPT: bash with nothing but HOME, a minimal PATH and the underlay
  env -i HOME="$HOME" PATH="/usr/bin:/bin" TERM=dumb bash --noprofile --norc -c "set -euo pipefail; source '$WS/underlay.bash'; $1"
}

# --- 4. colcon build --------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
start=$(now)
log "colcon build ${SYMLINK_INSTALL[*]} of vision_msgs, textregion_msgs, textregion_ros in $WS"
if ! clean_shell "
    cd '$WS'
    py_include=\$(python3 -c 'import sysconfig; print(sysconfig.get_paths()[\"include\"])')
    np_include=\$(python3 -c 'import numpy; print(numpy.get_include())')
    PYTHONPATH='$TOOLS/setuptools':\$PYTHONPATH timeout -k 10 $BUILD_TIMEOUT_S colcon build ${SYMLINK_INSTALL[*]} \
      --event-handlers console_cohesion+ console_stderr- \
      --cmake-args ${generator[*]} -Wno-dev -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCMAKE_PROJECT_INCLUDE='$ROOT/scripts/cmake/fix_wheel_include_dirs.cmake' \
        -DPython3_EXECUTABLE='$ROBOT_PYTHON' \
        -DTEXTREGION_PYTHON_INCLUDE_DIR=\$py_include -DTEXTREGION_NUMPY_INCLUDE_DIR=\$np_include
  " >"$WS/build.log" 2>&1; then
  tail -60 "$WS/build.log"
  die "colcon build failed after $(( $(now) - start )) s (log: $WS/build.log, $WS/log/latest_build/)"
fi
grep -E "^Summary:" "$WS/build.log" | sed 's/^/[colcon] /' || true
log "build finished in $(( $(now) - start )) s"

# --- 5. the installed node over real DDS, in a clean environment --------------------------------
start=$(now)
log "starting install/textregion_ros/lib/textregion_ros/textregion_node with the cpu_smoke preset"
clean_shell "
  set +u  # colcon's setup.bash reads unset variables
  source '$WS/install/setup.bash'
  set -u
  cd '$WS'
  # SIGINT on timeout: the probe's clean-up stops the node it started
  exec timeout -s INT -k 20 $PROBE_TIMEOUT_S python3 '$ROOT/scripts/colcon_smoke_probe.py' --workspace '$WS'
" || die "smoke run of the installed node failed after $(( $(now) - start )) s"
log "smoke run passed in $(( $(now) - start )) s"
