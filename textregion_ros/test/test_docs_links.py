"""The README and the pages under docs/ form one set of documents a reader can walk.

The README stays short and names every page; a page that no link reaches is lost to the reader, and
a link or #anchor that points nowhere (a page renamed, a heading reworded) strands them. Anchors are
checked with GitHub's rule for heading ids, the renderer these files are read in.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
DOCUMENTS = [README, *PAGES]
README_LIMIT_BYTES = 15_000

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`[^`]*`")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed (links there are not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def heading_anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading id of a Markdown file, repeats numbered as GitHub numbers them (-1, -2, ...)."""
    seen: Counter[str] = Counter()
    ids = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = heading_anchor(match.group(1))
            ids.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
            seen[base] += 1
    return ids


def relative_links(path: Path) -> list[str]:
    """The link and image targets of a Markdown file that point inside the repository."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in _LINK.findall(line):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: leave the repository
                targets.append(target)
    return targets


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_heading_anchors_follow_githubs_rule():
    assert heading_anchor("3D: depth and camera_info") == "3d-depth-and-camera_info"
    assert heading_anchor("Install on a robot (ROS 2 Jazzy)") == "install-on-a-robot-ros-2-jazzy"
    assert heading_anchor("Region prompts: decode SAM2's grid only where nothing is tracked") == \
        "region-prompts-decode-sam2s-grid-only-where-nothing-is-tracked"
    assert heading_anchor("The `tracks` mode") == "the-tracks-mode"


def test_the_readme_stays_a_five_minute_read():
    size = len(README.read_bytes())
    assert size < README_LIMIT_BYTES, f"README.md has {size} bytes: move the detail into a page under docs/"


def test_there_are_pages_under_docs():
    assert len(PAGES) >= 8, [_name(page) for page in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_the_readme_links_every_docs_page(page: Path):
    linked = {(README.parent / target.split("#", 1)[0]).resolve() for target in relative_links(README)}
    assert page.resolve() in linked, f"README.md has no link to {_name(page)}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_relative_link_names_an_existing_file(document: Path):
    missing = [target for target in relative_links(document)
               if target.split("#", 1)[0] and not (document.parent / target.split("#", 1)[0]).exists()]
    assert not missing, f"{_name(document)} links to missing files: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_anchor_names_a_heading_of_its_page(document: Path):
    broken = []
    for target in relative_links(document):
        if "#" not in target:
            continue
        file, anchor = target.split("#", 1)
        page = (document.parent / file) if file else document
        if page.suffix == ".md" and page.is_file() and anchor not in anchors(page):
            broken.append(target)
    assert not broken, f"{_name(document)} links to headings that do not exist: {broken}"
