"""benchmarks/ is a package run with `python -m benchmarks.<name>` (textregion_ros/ on the path): every
script answers --help that way without doing any work first, and the scripts share code only through
the package's non-script modules (common, scenes, ...), never by importing another script or by
editing sys.path."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # textregion_ros/, holding benchmarks/
BENCHMARKS = PACKAGE_ROOT / "benchmarks"
MODULES = sorted(path.stem for path in BENCHMARKS.glob("*.py") if path.stem != "__init__")

# One interpreter for every script: runpy.run_module(..., run_name="__main__") is what `python -m` does.
HELP_LOOP = """
import contextlib, importlib, io, json, runpy, sys
shared, scripts = sys.argv[1].split(","), sys.argv[2:]
for name in shared:
    importlib.import_module(f"benchmarks.{name}")
answers = {}
for name in scripts:
    sys.argv = [name, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
        code = "returned without exiting"
    except SystemExit as stop:
        code = stop.code
    answers[name] = {"code": code, "usage": out.getvalue().startswith("usage:")}
print(json.dumps(answers))
"""


def _tree(name: str) -> ast.Module:
    return ast.parse((BENCHMARKS / f"{name}.py").read_text(), filename=f"benchmarks/{name}.py")


def _is_script(tree: ast.Module) -> bool:
    """Whether the module ends in `if __name__ == "__main__":` (a script, not a shared part)."""
    return any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body)


SCRIPTS = sorted(name for name in MODULES if _is_script(_tree(name)))


def test_the_package_has_scripts_and_shared_modules():
    assert {"common", "scenes"} <= set(MODULES) - set(SCRIPTS)
    assert {"engine_stages", "host_stages", "region_prompts", "precision_table", "amg_vs_stock"} <= set(SCRIPTS)


def test_every_benchmark_module_imports_and_every_script_answers_help_through_python_m_without_side_effects(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    shared = ",".join(sorted(set(MODULES) - set(SCRIPTS)))
    done = subprocess.run([sys.executable, "-c", HELP_LOOP, shared, *SCRIPTS], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers == {name: {"code": 0, "usage": True} for name in SCRIPTS}
    assert list(tmp_path.iterdir()) == []  # importing every module and asking for help wrote nothing


def test_no_benchmark_edits_sys_path():
    edits = [f"{name}.py:{node.lineno}" for name in MODULES for node in ast.walk(_tree(name))
             if isinstance(node, ast.Attribute) and node.attr == "path"
             and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert edits == []


def test_no_benchmark_imports_another_script():
    imports = []
    for name in MODULES:
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.ImportFrom):
                module = (node.module or "").removeprefix("benchmarks").lstrip(".")
                if module:  # `from .engine_stages import`, `from benchmarks.engine_stages import`, or a bare
                    targets = [module]  # `from engine_stages import` (the old sys.path way)
                else:  # `from . import engine_stages`, `from benchmarks import engine_stages`
                    targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name.removeprefix("benchmarks.") for alias in node.names]
            else:
                continue
            imports += [f"{name}.py:{node.lineno} imports {target}" for target in targets if target in SCRIPTS]
    assert imports == []
