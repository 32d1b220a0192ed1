"""The robot's path in CI: .ci/run runs scripts/colcon_check.sh after the tests, and the check is
written to run from any clean clone (the check itself needs colcon and minutes, so CI runs it, not
pytest)."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "colcon_check.sh"
PROBE = REPO / "scripts" / "colcon_smoke_probe.py"


def test_ci_runs_the_colcon_check_after_the_tests_and_times_each_phase():
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("make test") < ci.index("./scripts/colcon_check.sh")
    for phase in ("set-up", "tests", "colcon check"):
        assert f"[ci] {phase} " in ci, phase


def test_colcon_check_is_valid_bash_and_uses_only_paths_relative_to_the_repository():
    subprocess.run(["bash", "-n", str(CHECK)], check=True)
    text = CHECK.read_text()
    assert "/work/" not in text and "BASH_SOURCE[0]" in text
    assert "--symlink-install" in text and "setuptools==68.1.2" in text
    assert "fix_wheel_include_dirs.cmake" in text and "env -i" in text
    assert "COLCON_IGNORE" in text  # the vendored vision_msgs is built without it


def test_smoke_probe_confines_dds_before_starting_the_node_and_uses_both_params_files():
    text = PROBE.read_text()
    tree = ast.parse(text)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    body = ast.unparse(main)
    assert body.index("local_dds.claim()") < body.index("local_dds.check(") < body.index("Node(")
    assert '"presets" / "cpu_smoke.yaml"' in text and '"textregion.yaml"' in text
    assert "SIGINT" in text and "timeout" in text
