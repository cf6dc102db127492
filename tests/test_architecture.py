"""The shape of the code: layers, cycles, private names, module sizes.

The layering and cycle contracts are import-linter's (``[tool.importlinter]`` in
pyproject.toml): catalog < ingest < associate < curation < classify, and no import cycle
between the modules of a package. The two smaller rules have no maintained tool and are
checked on the parsed source here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "ingest", "associate", "curation", "classify")
#: A module this long is doing more than one job.
MAX_MODULE_LINES = 600


def modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).glob("*.py"))


def test_layers_and_cycles_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in res.stdout


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.split(".")[0] in PACKAGES:
                found += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                          for a in node.names if a.name.startswith("_")]
    assert found == []


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}
