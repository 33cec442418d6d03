"""The shape of the package, checked where import-linter cannot see it."""

from __future__ import annotations

import ast
import tomllib
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
            if m == package
            or (
                m.startswith(package + ".")
                and m.count(".") == 2
                and m.rsplit(".", 1)[1] not in _submodules(family)
            )
        }
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


def test_ruff_format_decides_the_layout():
    """No skip marker of ruff format packs lines (`make lint` runs ruff format --check): a module
    that grows is a prompt to look for a seam, never to squeeze lines."""
    root = PACKAGE.parent
    marker = "# fmt: " + "skip"  # spelled apart, or this file would hold one
    packed = [
        f"{p.relative_to(root)}:{n}"
        for folder in ("failoverd", "tests", "chaos")
        for p in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if marker in line
    ]
    assert not packed, f"lines packed by hand: {packed}"


def test_the_folders_are_the_layers_of_design_md():
    """Every module lives in a layer folder; only the package's entry points stay at the top."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"], top
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert layers == {
        "machine",
        "config",
        "kit",
        "store",
        "clients",
        "probes",
        "traffic",
        "replication",
        "notify",
        "plans",
        "runtime",
        "ha",
        "drill",
        "app",
    }, layers
    contracts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    (layered,) = [
        c for c in contracts["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    named = {
        m.strip().removeprefix("failoverd.") for line in layered["layers"] for m in line.split("|")
    }
    assert named == layers, "every folder is a layer of the contract, and only folders are"
