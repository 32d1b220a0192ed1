"""setup.py's version ranges resolve together with what the development machines pin and install.

Why: a range that admits a version nothing else accepts (torch>=2.1 while sam2 1.1 needs
torch>=2.5.1) lets pip or a robot's rosdep pick a combination that fails at import time. The pins
(scripts/requirements.txt, the torch pins in scripts/setup.sh) and the venv's installed metadata
are the evidence checked here, read without running setup.py.
"""
from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path
from typing import Optional

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent


def setup_requirements() -> tuple[list[Requirement], list[Requirement]]:
    """install_requires and extras_require["test"] of setup.py, read with ast (no setup() call)."""
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords
                if k.arg in ("install_requires", "extras_require")}
    return ([Requirement(r) for r in keywords["install_requires"]],
            [Requirement(r) for r in keywords["extras_require"]["test"]])


def pinned_versions() -> dict[str, list[Version]]:
    """name -> pinned versions: scripts/requirements.txt plus every architecture's torch pins."""
    pins: dict[str, list[Version]] = {}
    for line in (REPO / "scripts" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.setdefault(canonicalize_name(name), []).append(Version(version.strip()))
    for name, version in re.findall(r"\b(torch|torchvision)==([0-9][0-9.]*)",
                                    (REPO / "scripts" / "setup.sh").read_text()):
        pins.setdefault(name, []).append(Version(version))
    return pins


def installed_version(name: str) -> Optional[Version]:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def lower_bound(specifier: SpecifierSet) -> Optional[Version]:
    """The smallest version a range names as allowed (>=, ==, ~=), None when unbounded below."""
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


def requires_of(name: str) -> list[Requirement]:
    """The installed distribution's unconditional requirements (no extras, markers for this Python)."""
    requirements = [Requirement(text) for text in metadata.requires(name) or []]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


RUN, TEST = setup_requirements()


def test_every_run_requirement_has_a_lower_bound():
    for requirement in RUN:
        assert lower_bound(requirement.specifier) is not None, f"{requirement} has no lower bound"


@pytest.mark.parametrize("requirement", RUN + TEST, ids=str)
def test_range_admits_the_pinned_and_installed_versions(requirement: Requirement):
    versions = pinned_versions().get(canonicalize_name(requirement.name), [])
    installed = installed_version(requirement.name)
    assert versions or installed, f"{requirement.name} is neither pinned nor installed: nothing to check against"
    for version in versions + ([installed] if installed else []):
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} rejects {version}"


def test_lower_bounds_satisfy_what_the_lowest_admitted_dependents_require():
    """Where the installed (pinned) version of a package is the lowest our range admits, its own
    requirements on our other dependencies hold for all our ranges: our lower bounds must meet them."""
    ours = {canonicalize_name(r.name): r for r in RUN}
    checked = []
    for name, requirement in ours.items():
        installed = installed_version(name)
        if installed is None or installed != lower_bound(requirement.specifier):
            continue
        for needed in requires_of(name):
            mine = ours.get(canonicalize_name(needed.name))
            if mine is None:
                continue
            floor = lower_bound(mine.specifier)
            assert floor is not None and needed.specifier.contains(floor, prereleases=True), (
                f"{name} {installed} requires {needed}, but setup.py admits {mine} (from {floor})")
            checked.append((name, needed.name))
    assert ("sam2", "torch") in checked, "sam2's requirement on torch was not checked (sam2 not at its lowest?)"


def test_torch_lower_bound_is_what_sam2_requires():
    torch_needed = next(r for r in requires_of("sam2") if canonicalize_name(r.name) == "torch")
    torch_floor = lower_bound(next(r for r in RUN if r.name == "torch").specifier)
    assert torch_floor is not None and torch_floor >= lower_bound(torch_needed.specifier)
