"""Start a ROS node (or any ROS program) as a child process, wait for it, stop it.

The one helper the tests, the demo and the benchmarks share, so each of them gets the same
guarantees without re-implementing them:
  - the child only ever starts with DDS confined to this machine (local_dds.check on its
    environment; DdsIsolationError otherwise), because a test run must not reach a robot;
  - its stdout and stderr go to one log file, so a failure can show what the node said
    (`log_tail`) and waits can stop early on a line such as "configure failed";
  - it runs in its own session: a Ctrl-C in the terminal reaches the parent only, which then
    stops the child exactly once (SIGINT, the node's clean shutdown; SIGTERM, then SIGKILL, if it
    does not end in time), and the exit status says how it ended;
  - `wait_until` polls a readiness condition while watching the child, so a node that died or
    failed to load its models fails the wait at once instead of after the timeout.
It imports nothing from ROS: the caller's `step` (e.g. spinning an rclpy executor) does the ROS work.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from . import local_dds, node_command
from .params_files import NODE_NAME

# Runs before the real program when signals are to be ignored: sets them to SIG_IGN, then execs the
# interpreter with the real arguments. An ignored disposition survives exec (as it does for a job a
# non-interactive shell starts with `&`), and nothing but this small program runs between fork and
# exec, unlike a Popen preexec_fn, which is unsafe in a parent with threads (DDS starts several).
_IGNORE_THEN_EXEC = (
    "import os, signal, sys\n"
    "for number in {numbers!r}:\n"
    "    signal.signal(number, signal.SIG_IGN)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)
INTERRUPT_TIMEOUT_S = 30.0  # a node releasing its models may take a while to end after SIGINT
TERMINATE_TIMEOUT_S = 5.0
POLL_S = 0.05


class NodeProcessError(RuntimeError):
    """The child exited, reported a failure, or did not get ready in time.

    `reason` says which; `log_tail` holds the last lines of the child's log at that moment.
    """

    def __init__(self, reason: str, log_path: Path, log_tail: str) -> None:
        super().__init__(f"{reason}\n--- last lines of {log_path} ---\n{log_tail}")
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail


class NodeProcess:
    """`python <args>` as a child with a confined DDS environment and a log file.

    Use as a context manager (`with NodeProcess(...) as node:`), which starts the child and stops
    it on the way out, or call `start()` and `stop()`.
    """

    def __init__(self, args: Sequence[str], log_path: Optional[Union[str, Path]] = None,
                 env: Optional[Mapping[str, str]] = None, cwd: Optional[Union[str, Path]] = None,
                 name: str = "the child process", ignored_signals: Sequence[int] = ()) -> None:
        """`args` follow the interpreter (`-m module ...` or a script); `env` defaults to os.environ.

        Without `log_path` the log goes to a new temporary file, kept after the run for inspection.
        `name` is how error messages call the child ("the node"). `ignored_signals` start the child
        with those signals ignored, as a shell's `node &` starts it with SIGINT ignored, so tests can
        check that a program installs its own handlers instead of relying on the inherited ones.
        """
        self.ignored_signals = tuple(int(number) for number in ignored_signals)
        launcher = ["-c", _IGNORE_THEN_EXEC.format(numbers=self.ignored_signals)] if self.ignored_signals else []
        self.command = [sys.executable, *launcher, *args]
        self.name = name
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")  # log lines appear as they are written
        self.cwd = Path(cwd) if cwd is not None else None
        if log_path is None:
            handle, temp_name = tempfile.mkstemp(prefix="node_process_", suffix=".log")
            os.close(handle)
            log_path = temp_name
        self.log_path = Path(log_path)
        self.process: Optional[subprocess.Popen] = None
        self._scan_offset = 0
        self._scan_rest = b""

    @classmethod
    def textregion_node(cls, parameters: Mapping[str, Any], params_files: Sequence[Union[str, Path]] = (),
                        node_name: str = NODE_NAME, remaps: Optional[Mapping[str, str]] = None,
                        **kwargs: Any) -> "NodeProcess":
        """The textregion node with `params_files` layered in order and `parameters` on top."""
        kwargs.setdefault("name", f"the node {node_name}")
        return cls(node_command.node_arguments(parameters, params_files, node_name, remaps), **kwargs)

    # -- life cycle of the child -------------------------------------------------------------------
    def start(self) -> "NodeProcess":
        """Start the child (once). DdsIsolationError, before anything starts, if DDS is not confined."""
        if self.process is not None:
            raise RuntimeError(f"already started: {self.command}")
        local_dds.check(self.env)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def __enter__(self) -> "NodeProcess":
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once the child ended (negative: killed by that signal), else None."""
        return self.process.poll() if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, interrupt_timeout: float = INTERRUPT_TIMEOUT_S,
             terminate_timeout: float = TERMINATE_TIMEOUT_S) -> Optional[int]:
        """End the child and return its exit status (None if it never started).

        SIGINT first (rclpy shuts the node down cleanly), SIGTERM after `interrupt_timeout` s,
        SIGKILL after another `terminate_timeout` s. Safe to call again: returns the same status.
        """
        if self.process is None:
            return None
        for sig, timeout in ((signal.SIGINT, interrupt_timeout), (signal.SIGTERM, terminate_timeout)):
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass  # escalate to the next signal
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    # -- the log ------------------------------------------------------------------------------------
    def log_text(self) -> str:
        """Everything the child wrote so far ("" before it started)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log, for error messages."""
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"

    def _new_log_lines(self) -> list[str]:
        """Complete lines written since the previous call (reads only the new part of the file)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._scan_offset)
                chunk = log.read()
        except OSError:
            return []
        self._scan_offset += len(chunk)
        *lines, self._scan_rest = (self._scan_rest + chunk).split(b"\n")
        return [line.decode(errors="replace") for line in lines]

    # -- waiting -------------------------------------------------------------------------------------
    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str,
                   step: Optional[Callable[[], None]] = None, failure_markers: Sequence[str] = ()) -> None:
        """Return once `ready()` is true; call `step()` between checks (default: sleep briefly).

        Raises NodeProcessError at once when the child has exited or logs a line containing one
        of `failure_markers` (e.g. node_command.CONFIGURE_FAILED), and after `timeout` s. Pass an
        executor's spin_once as `step` to get ROS callbacks while waiting.
        """
        if self.process is None:
            raise RuntimeError("wait_until before start()")
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                raise self._error(f"{self.name} exited (status {self.returncode}) while waiting for {what}")
            if failure_markers:
                for line in self._new_log_lines():
                    if any(marker in line for marker in failure_markers):
                        raise self._error(f"{self.name} reported a failure while waiting for {what}: {line.strip()}")
            if time.monotonic() > deadline:
                raise self._error(f"timed out after {timeout:.0f} s waiting for {what}")
            if step is None:
                time.sleep(POLL_S)
            else:
                step()

    def _error(self, reason: str) -> NodeProcessError:
        return NodeProcessError(reason, self.log_path, self.log_tail())
