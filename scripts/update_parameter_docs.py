#!/usr/bin/env python3
"""Write config/textregion.yaml and the parameter table of docs/parameters.md from textregion_ros/params.py.

    python scripts/update_parameter_docs.py          # rewrite both
    python scripts/update_parameter_docs.py --check  # exit 1 when either is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "textregion_ros"))

from textregion_ros import params_docs  # noqa: E402

PARAMS_FILE = ROOT / "textregion_ros" / "config" / "textregion.yaml"
DOCS_PAGE = ROOT / params_docs.DOCS_PAGE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file is out of date")
    args = parser.parse_args()
    wanted = {PARAMS_FILE: params_docs.params_file(),
              DOCS_PAGE: params_docs.replace_docs_table(DOCS_PAGE.read_text(encoding="utf-8"))}
    stale = [path for path, text in wanted.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run scripts/update_parameter_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
