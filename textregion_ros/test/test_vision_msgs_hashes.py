"""The vendored vision_msgs definitions must hash (RIHS01) to upstream vision_msgs 4.1.1.

Uses scripts/check_vision_msgs_hashes.py (loaded by path; it is not part of the package), which
parses the .msg files with rosbags, so nothing is compiled and no ROS runtime is needed.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import rosbags  # noqa: F401  a hard dependency (setup.py): computes the RIHS01 hashes; missing = failure

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = REPO_ROOT / "scripts" / "check_vision_msgs_hashes.py"
PACKAGE_DIR = REPO_ROOT / "vendor" / "vision_msgs"
MSG_DIR = PACKAGE_DIR / "msg"
EXPECTED_FILE = PACKAGE_DIR / "upstream_type_hashes.json"

# The messages of vision_msgs 4.1.1 (Humble/Jazzy).
UPSTREAM_MESSAGES = {
    "BoundingBox2D", "BoundingBox2DArray", "BoundingBox3D", "BoundingBox3DArray",
    "Classification", "Detection2D", "Detection2DArray", "Detection3D", "Detection3DArray",
    "LabelInfo", "ObjectHypothesis", "ObjectHypothesisWithPose", "Point2D", "Pose2D",
    "VisionClass", "VisionInfo",
}


def _load_check_module() -> ModuleType:
    name = "check_vision_msgs_hashes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CHECK_SCRIPT)
    assert spec is not None and spec.loader is not None, f"cannot load {CHECK_SCRIPT}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def check() -> ModuleType:
    return _load_check_module()


def _drifted_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """Copy the vendored msg dir into tmp_path and replace one field line in one file."""
    msg_dir = tmp_path / "msg"
    shutil.copytree(MSG_DIR, msg_dir)
    path = msg_dir / f"{name}.msg"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.rstrip("\n") == old]
    assert len(hits) == 1, f"expected exactly one line {old!r} in {path.name}"
    lines[hits[0]] = new + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return msg_dir


def test_every_upstream_message_is_vendored_with_an_expected_hash(check: ModuleType) -> None:
    vendored = {path.stem for path in MSG_DIR.glob("*.msg")}
    assert vendored == UPSTREAM_MESSAGES
    expected, _ = check.load_expected(EXPECTED_FILE)
    assert set(expected) == {f"vision_msgs/msg/{name}" for name in UPSTREAM_MESSAGES}


def test_vendored_definitions_hash_to_upstream(check: ModuleType) -> None:
    rows, dependency_rows = check.check(MSG_DIR, EXPECTED_FILE)
    bad = [f"{row.typename}: {row.status} {row.detail}" for row in (*rows, *dependency_rows)
           if not row.ok]
    assert not bad, "vendored vision_msgs differs from upstream:\n" + "\n".join(bad)
    assert len(rows) == len(UPSTREAM_MESSAGES)
    assert all(row.got == row.expected for row in rows)


def test_changed_field_type_is_detected_as_drift_with_its_dependents(
    check: ModuleType, tmp_path: Path
) -> None:
    msg_dir = _drifted_copy(tmp_path, "ObjectHypothesis", "float64 score", "float32 score")
    rows, _ = check.check(msg_dir, EXPECTED_FILE)
    status = {row.typename.rsplit("/", 1)[1]: row.status for row in rows}

    # The changed type and every type that nests it, directly or not, drift.
    dependents = {
        "ObjectHypothesis", "ObjectHypothesisWithPose", "Classification",
        "Detection2D", "Detection2DArray", "Detection3D", "Detection3DArray",
    }
    assert {name for name, value in status.items() if value == check.DRIFT} == dependents
    # Types that do not refer to ObjectHypothesis are untouched.
    assert all(status[name] == check.OK for name in UPSTREAM_MESSAGES - dependents)
    assert check.main(["--msg-dir", str(msg_dir), "--expected", str(EXPECTED_FILE)]) == 1


def test_renamed_field_is_detected_as_drift(check: ModuleType, tmp_path: Path) -> None:
    msg_dir = _drifted_copy(tmp_path, "VisionClass", "uint16 class_id", "uint16 id")
    hashes = check.compute_hashes(msg_dir)
    expected, _ = check.load_expected(EXPECTED_FILE)
    assert hashes["vision_msgs/msg/VisionClass"] != expected["vision_msgs/msg/VisionClass"]
    assert hashes["vision_msgs/msg/LabelInfo"] != expected["vision_msgs/msg/LabelInfo"]


def test_comment_changes_do_not_count_as_drift(check: ModuleType, tmp_path: Path) -> None:
    msg_dir = tmp_path / "msg"
    shutil.copytree(MSG_DIR, msg_dir)
    path = msg_dir / "Detection2D.msg"
    path.write_text("# a comment of our own\n" + path.read_text(encoding="utf-8"),
                    encoding="utf-8")
    rows, _ = check.check(msg_dir, EXPECTED_FILE)
    assert all(row.ok for row in rows)


def test_unknown_or_missing_types_fail_the_check(check: ModuleType, tmp_path: Path) -> None:
    msg_dir = tmp_path / "msg"
    shutil.copytree(MSG_DIR, msg_dir)
    (msg_dir / "VisionInfo.msg").unlink()
    (msg_dir / "Extra.msg").write_text("int32 value\n", encoding="utf-8")
    rows, _ = check.check(msg_dir, EXPECTED_FILE)
    status = {row.typename: row.status for row in rows}
    assert status["vision_msgs/msg/VisionInfo"] == check.MISSING
    assert status["vision_msgs/msg/Extra"] == check.NO_EXPECTED
    assert check.main(["--msg-dir", str(msg_dir), "--expected", str(EXPECTED_FILE)]) == 1


def test_default_value_is_reported_although_the_hash_ignores_it(
    check: ModuleType, tmp_path: Path
) -> None:
    msg_dir = _drifted_copy(tmp_path, "Pose2D", "float64 theta", "float64 theta 0.5")
    rows, _ = check.check(msg_dir, EXPECTED_FILE)
    row = next(row for row in rows if row.typename == "vision_msgs/msg/Pose2D")
    assert row.got == row.expected  # RIHS01 does not cover default values ...
    assert row.status == check.UNHASHED  # ... so the check flags them separately


def test_vision_msgs_built_into_the_environment_carry_the_upstream_hashes() -> None:
    """The compiled package (what nodes actually use) agrees with upstream, not only the files.

    Found through the ament index, so it is the venv's build or a system ROS install's package,
    whichever the node would load; vision_msgs missing from both is a failure, not a skip.
    """
    import json

    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory("vision_msgs")) / "msg"
    assert sorted(share.glob("*.json")), f"{share} holds no type descriptions (*.json)"
    expected = json.loads((REPO_ROOT / "vendor" / "vision_msgs" / "upstream_type_hashes.json").read_text())
    built = {}
    for description in share.glob("*.json"):
        for entry in json.loads(description.read_text())["type_hashes"]:
            built[entry["type_name"]] = entry["hash_string"]
    assert {name: built.get(name) for name in expected["hashes"]} == expected["hashes"]
