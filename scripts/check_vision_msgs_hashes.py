#!/usr/bin/env python3
"""Check that the vendored vision_msgs definitions hash to upstream's RIHS01 type hashes.

ROS 2 Jazzy nodes compare RIHS01 type hashes when they match publishers and subscribers, so
the copy of vision_msgs built into the venv (``vendor/vision_msgs``) must produce exactly the
hashes of upstream vision_msgs 4.1.1. This script checks that without compiling anything:
it parses every ``.msg`` file with ``rosbags``, registers the types into a private copy of the
ROS 2 Jazzy type store (which supplies std_msgs, geometry_msgs, builtin_interfaces, ...),
computes each type's RIHS01 hash and compares it with ``upstream_type_hashes.json``.

RIHS01 does not cover constants or default values. Upstream vision_msgs 4.1.1 declares none,
so any constant or default value in the vendored files is reported as well (``UNHASHED``).

It also compares the hashes of the dependency types (``dependency_hashes`` in the JSON) with
the store, so a rosbags store that disagrees with upstream is reported as such.

Exit status: 0 when every type matches; 1 when any type drifted, has no expected hash, has an
expected hash but no ``.msg`` file, could not be hashed or declares a constant/default value;
2 on unusable input.

Usage::

    python scripts/check_vision_msgs_hashes.py [--msg-dir DIR] [--expected FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACKAGE_DIR = REPO_ROOT / "vendor" / "vision_msgs"
DEFAULT_MSG_DIR = DEFAULT_PACKAGE_DIR / "msg"
DEFAULT_EXPECTED = DEFAULT_PACKAGE_DIR / "upstream_type_hashes.json"
DEFAULT_PACKAGE = "vision_msgs"

OK = "OK"
DRIFT = "DRIFT"
NO_EXPECTED = "NO_EXPECTED"  # a .msg file whose type has no upstream hash on record
MISSING = "MISSING"  # an upstream hash on record whose type has no .msg file
ERROR = "ERROR"  # the type could not be hashed (e.g. it refers to an unknown type)
UNHASHED = "UNHASHED"  # a constant or default value: invisible to RIHS01, absent upstream


class HashCheckError(Exception):
    """Raised when the inputs of the check cannot be used at all."""


@dataclass(frozen=True)
class Row:
    """Outcome of comparing one type's hash.

    Attributes:
        typename: Full ROS type name, e.g. ``vision_msgs/msg/Detection2D``.
        expected: Upstream hash, or ``None`` when none is on record.
        got: Hash computed from the definitions, or ``None`` when there is none.
        status: One of ``OK``, ``DRIFT``, ``NO_EXPECTED``, ``MISSING``, ``ERROR``.
        detail: Free text explaining a non-OK status (empty for OK).
    """

    typename: str
    expected: str | None
    got: str | None
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether this row passes the check."""
        return self.status == OK


def _typename(package: str, msg_file: Path) -> str:
    return f"{package}/msg/{msg_file.stem}"


def load_definitions(msg_dir: Path, package: str = DEFAULT_PACKAGE) -> dict[str, str]:
    """Read every ``*.msg`` file below ``msg_dir`` (not recursive).

    Args:
        msg_dir: Directory holding ``<Name>.msg`` files.
        package: ROS package the messages belong to.

    Returns:
        Mapping of full type name to the file's text, sorted by type name.

    Raises:
        HashCheckError: If the directory does not exist or holds no ``.msg`` file.
    """
    if not msg_dir.is_dir():
        raise HashCheckError(f"message directory {msg_dir} does not exist")
    files = sorted(msg_dir.glob("*.msg"))
    if not files:
        raise HashCheckError(f"no .msg files in {msg_dir}")
    return {_typename(package, path): path.read_text(encoding="utf-8") for path in files}


def _make_store(definitions: Mapping[str, str]):  # -> rosbags Typestore
    """Build a fresh ROS 2 Jazzy type store with ``definitions`` registered into it."""
    store = get_typestore(Stores.ROS2_JAZZY)  # a new object on each call; never shared
    types: dict = {}
    for typename, text in definitions.items():
        try:
            types.update(get_types_from_msg(text, typename))
        except Exception as error:  # rosbags raises its own parser errors
            raise HashCheckError(f"cannot parse {typename}: {error}") from error
    try:
        store.register(types)
    except Exception as error:  # e.g. a conflicting definition of a type the store has
        raise HashCheckError(f"cannot register the definitions: {error}") from error
    return store


def _hash_types(store, typenames: Sequence[str]) -> dict[str, str | Exception]:
    """Hash each type name; a type that cannot be hashed maps to the exception raised."""
    hashes: dict[str, str | Exception] = {}
    for typename in typenames:
        try:
            hashes[typename] = store.hash_rihs01(typename)
        except Exception as error:  # unknown nested type and the like
            hashes[typename] = error
    return hashes


def compute_hashes(msg_dir: Path, package: str = DEFAULT_PACKAGE) -> dict[str, str | Exception]:
    """Compute the RIHS01 hash of every message defined in ``msg_dir``.

    Nested types of the same package are resolved among the files of ``msg_dir``; types of
    other packages (std_msgs, geometry_msgs, sensor_msgs, ...) come from rosbags' ROS 2 Jazzy
    store.

    Args:
        msg_dir: Directory holding ``<Name>.msg`` files.
        package: ROS package the messages belong to.

    Returns:
        Mapping of full type name (``<package>/msg/<Name>``) to its ``RIHS01_...`` hash, or to
        the exception raised when the type could not be hashed.

    Raises:
        HashCheckError: If the files cannot be read, parsed or registered.
    """
    definitions = load_definitions(msg_dir, package)
    store = _make_store(definitions)
    return _hash_types(store, list(definitions))


def compute_store_hashes(typenames: Sequence[str]) -> dict[str, str | Exception]:
    """Hash types taken from rosbags' ROS 2 Jazzy store as it ships (no vendored types).

    Args:
        typenames: Full type names, e.g. ``std_msgs/msg/Header``.

    Returns:
        Mapping of type name to its hash, or to the exception raised when it is unknown.
    """
    return _hash_types(get_typestore(Stores.ROS2_JAZZY), typenames)


def load_expected(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Read the upstream hash file.

    Args:
        path: JSON file with a ``hashes`` object (type name -> hash) and optionally a
            ``dependency_hashes`` object of the same shape.

    Returns:
        The package's expected hashes and the dependency types' expected hashes.

    Raises:
        HashCheckError: If the file is missing or malformed.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise HashCheckError(f"cannot read {path}: {error}") from error
    hashes = data.get("hashes") if isinstance(data, dict) else None
    if not isinstance(hashes, dict) or not hashes:
        raise HashCheckError(f"{path} has no 'hashes' object")
    dependencies = data.get("dependency_hashes", {})
    if not isinstance(dependencies, dict):
        raise HashCheckError(f"{path}: 'dependency_hashes' is not an object")
    return dict(hashes), dict(dependencies)


def find_unhashed_lines(definitions: Mapping[str, str]) -> dict[str, list[str]]:
    """Find declarations that the RIHS01 hash cannot see: constants and default values.

    A field line is ``<type> <name>``; anything after the name (a default value) or an ``=``
    (a constant) carries information outside the hash. Upstream vision_msgs 4.1.1 has none.

    Args:
        definitions: Type name -> ``.msg`` text.

    Returns:
        Type name -> offending lines (comments stripped), for types that have any.
    """
    found: dict[str, list[str]] = {}
    for typename, text in definitions.items():
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line and ("=" in line or len(line.split()) != 2):
                found.setdefault(typename, []).append(line)
    return found


def compare(
    expected: Mapping[str, str], got: Mapping[str, str | Exception]
) -> list[Row]:
    """Compare expected hashes with computed ones, one row per type in either mapping.

    Args:
        expected: Type name -> upstream hash.
        got: Type name -> computed hash, or the exception raised while computing it.

    Returns:
        Rows sorted by type name. A type only in ``got`` is ``NO_EXPECTED``; one only in
        ``expected`` is ``MISSING``; one whose hash could not be computed is ``ERROR``.
    """
    rows: list[Row] = []
    for typename in sorted(set(expected) | set(got)):
        want = expected.get(typename)
        have = got.get(typename)
        if isinstance(have, Exception):
            rows.append(Row(typename, want, None, ERROR, f"{type(have).__name__}: {have}"))
        elif have is None:
            rows.append(Row(typename, want, None, MISSING, "no .msg file defines this type"))
        elif want is None:
            rows.append(Row(typename, None, have, NO_EXPECTED, "no upstream hash on record"))
        elif want == have:
            rows.append(Row(typename, want, have, OK))
        else:
            rows.append(Row(typename, want, have, DRIFT, "definition differs from upstream"))
    return rows


def check(
    msg_dir: Path = DEFAULT_MSG_DIR,
    expected_file: Path = DEFAULT_EXPECTED,
    package: str = DEFAULT_PACKAGE,
) -> tuple[list[Row], list[Row]]:
    """Run the whole check.

    Args:
        msg_dir: Directory of the vendored ``.msg`` files.
        expected_file: JSON file with the upstream hashes.
        package: ROS package the messages belong to.

    Returns:
        Rows for the package's types and rows for the dependency types.

    Raises:
        HashCheckError: If the inputs cannot be used.
    """
    expected, dependency_expected = load_expected(expected_file)
    rows = compare(expected, compute_hashes(msg_dir, package))
    unhashed = find_unhashed_lines(load_definitions(msg_dir, package))
    rows = [
        Row(row.typename, row.expected, row.got, UNHASHED,
            "declares a constant/default value (not covered by RIHS01; upstream has none): "
            + "; ".join(unhashed[row.typename]))
        if row.ok and row.typename in unhashed else row
        for row in rows
    ]
    dependency_rows = compare(
        dependency_expected, compute_store_hashes(sorted(dependency_expected))
    )
    return rows, dependency_rows


def format_table(rows: Sequence[Row]) -> str:
    """Render rows as a fixed-width text table (type, expected, got, status)."""
    header = ("type", "expected", "got", "status")
    lines = [
        (row.typename, row.expected or "-", row.got or "-", row.status) for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
        for cells in [header, *lines]
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--msg-dir", type=Path, default=DEFAULT_MSG_DIR,
                        help=f"directory of .msg files (default: {DEFAULT_MSG_DIR})")
    parser.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED,
                        help=f"upstream hash file (default: {DEFAULT_EXPECTED})")
    parser.add_argument("--package", default=DEFAULT_PACKAGE,
                        help=f"ROS package name of the messages (default: {DEFAULT_PACKAGE})")
    args = parser.parse_args(argv)

    try:
        rows, dependency_rows = check(args.msg_dir, args.expected, args.package)
    except HashCheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(format_table(rows))
    if dependency_rows:
        print("\ndependency types (rosbags ROS2_JAZZY store vs upstream):")
        print(format_table(dependency_rows))

    failures = [row for row in (*rows, *dependency_rows) if not row.ok]
    if failures:
        print(f"\nFAILED: {len(failures)} type(s) not matching upstream:", file=sys.stderr)
        for row in failures:
            print(f"  {row.typename}: {row.status} ({row.detail})", file=sys.stderr)
        return 1
    print(f"\nall {len(rows)} {args.package} types and {len(dependency_rows)} dependency types "
          "match upstream")
    return 0


if __name__ == "__main__":
    sys.exit(main())
