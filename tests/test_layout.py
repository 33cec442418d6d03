"""The shape of the package, checked where import-linter cannot see it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "failoverd"
FAMILIES = ("probes", "traffic", "replication")


def imported_modules(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_kind_modules_import_their_base_never_the_package_that_builds_them(family):
    package = f"failoverd.{family}"
    for path in sorted((PACKAGE / family).glob("*.py")):
        if path.name == "__init__.py":
            continue
        bad = {
            m
            for m in imported_modules(path)
            if m == package or (m.startswith(package + ".") and m.count(".") == 2 and
                                m.rsplit(".", 1)[1] not in _submodules(family))
        }  # fmt: skip
        assert not bad, f"{path.name} imports {sorted(bad)}: kinds import {package}.base"


def _submodules(family: str) -> set[str]:
    return {p.stem for p in (PACKAGE / family).glob("*.py") if p.name != "__init__.py"}


def test_every_kind_in_the_config_has_a_module_of_the_same_name():
    from failoverd import config

    for family, kinds in (
        ("probes", config.PROBE_KINDS),
        ("traffic", config.TRAFFIC_KINDS),
        ("replication", config.JOB_KINDS),
    ):
        missing = [k for k in kinds if not (PACKAGE / family / f"{k}.py").exists()]
        assert not missing, f"{family}: config kinds without a module: {missing}"


def test_no_module_is_a_god_module():
    too_long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not too_long, f"modules over 450 lines: {too_long}"
