"""The lint gates: ruff (ruff.toml) over the repository, mypy (mypy.ini) over engine/ and perception/, and
no internal issue numbers in the code's comments and docstrings.

Why in the test suite: a gate that runs only when someone remembers it stops holding. The tools are pinned
in scripts/requirements.txt, so a finding here is the same finding on every machine. scripts/lint.sh applies
ruff's automatic fixes and then runs this file. mypy keeps its cache in the repository's ignored
.mypy_cache: cold it reads torch's types (tens of seconds), warm it rechecks only what changed.
"""
from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# An internal tracker reference: the word issue(s), PR or pull request followed by a number (with or
# without '#', as in "issue #N" or "issues N and M"), or an engineer's branch name (the letter i, two digits,
# an optional letter). A track id in a label ("#7 red mug") or a hex colour is not one, so a bare "#N" is
# not matched.
ISSUE_REFERENCE = re.compile(r"\b(?:issues?|PR|pull request)\s*#?\d+|\bi\d{2}[a-z]?\b", re.IGNORECASE)
SOURCE_DIRS = ("textregion_ros", "scripts")


def run_tool(*args: str) -> subprocess.CompletedProcess:
    """`python -m TOOL ARGS` from the repository root, so the tool reads the repository's config file."""
    try:
        return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as error:  # pragma: no cover - the interpreter itself is missing
        pytest.fail(f"cannot run {args[0]}: {error}")


def require_module(name: str) -> None:
    """A missing tool is a set-up problem, said as such (not a pass, not a skip)."""
    probe = subprocess.run([sys.executable, "-m", name, "--version"], capture_output=True, text=True)
    assert probe.returncode == 0, (f"{name} is not installed in {sys.prefix}: run ./scripts/setup.sh "
                                   f"(it installs the pins of scripts/requirements.txt)\n{probe.stderr}")


def comment_and_docstring_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and every string that stands alone as a statement (docstrings)."""
    found = []
    previous = tokenize.NEWLINE
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.string))
        elif token.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT,
                                                            tokenize.DEDENT, tokenize.ENCODING):
            found.append((token.start[0], token.string))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return found


def issue_references(path: Path) -> list[str]:
    """'path:line: text' for each comment or docstring of `path` that names an internal issue."""
    hits = []
    for line, text in comment_and_docstring_text(path):
        for offset, text_line in enumerate(text.splitlines()):
            match = ISSUE_REFERENCE.search(text_line)
            if match:
                hits.append(f"{path.relative_to(REPO)}:{line + offset}: {match.group(0)!r} in {text_line.strip()!r}")
    return hits


def test_ruff_finds_nothing():
    require_module("ruff")
    result = run_tool("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, ("ruff check found problems (./scripts/lint.sh fixes the automatic ones):\n"
                                    + result.stdout + result.stderr)


def test_mypy_finds_no_type_errors_in_engine_and_perception():
    require_module("mypy")
    result = run_tool("mypy")
    assert result.returncode == 0, "mypy (mypy.ini: engine/ and perception/) found problems:\n" + result.stdout \
        + result.stderr
    assert "Success" in result.stdout, result.stdout  # it checked something and said so


@pytest.mark.parametrize("text", ["(issue 16, item 1)", "issues 19 and 21", "Issue 21: a step back",
                                  "see issue #28", "issue 19.5", "as i30 found", "branch i29l"])
def test_issue_reference_pattern_flags_tracker_references(text: str):
    assert ISSUE_REFERENCE.search(text)


@pytest.mark.parametrize("text", ['"#7 red mug 0.71"', "color #ff0000", "item 3 of the list", "an issue with it",
                                  "int32 ids", "pi 3.14", "1.0 in i2 coordinates"])
def test_issue_reference_pattern_spares_ordinary_text(text: str):
    assert not ISSUE_REFERENCE.search(text)


def test_comment_scan_reads_comments_and_docstrings_but_not_code_strings(tmp_path: Path):
    source = tmp_path / "sample.py"
    source.write_text('"""Module (issue 1)."""\nx = "issue 2"  # issue 3\n\n\ndef f():\n    """issue 4"""\n')
    assert [line for line, _ in comment_and_docstring_text(source)] == [1, 2, 6]


def test_no_internal_issue_numbers_in_comments_or_docstrings():
    skipped = {"__pycache__", "build", "install", "log"}  # caches and colcon's output, not source
    files = sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py")
                   if not skipped & set(p.relative_to(REPO).parts))
    assert len(files) > 100, f"the scan found only {len(files)} Python files under {SOURCE_DIRS}"
    hits = [hit for path in files for hit in issue_references(path)]
    assert not hits, ("comments and docstrings say why in the code's own terms, not by tracker number:\n"
                      + "\n".join(hits))
