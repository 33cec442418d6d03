"""mkdocs hook: the configuration reference, generated at build time from `failoverd schema`.

The page is built from `failoverd.config.json_schema()` (what `failoverd schema` prints) and
added as a generated file, so it cannot drift from the code: a field added, renamed or
removed changes the page at the next build. Descriptions come from the schema where a model
or field carries one, else from `config_fields.yaml` beside this file. A field with no
description anywhere, or a description for a field the schema no longer has, is a warning,
which `mkdocs build --strict` turns into a failed build.
"""

from __future__ import annotations

import json
import logging
import typing
from pathlib import Path
from typing import Any

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from pydantic import BaseModel

from failoverd import config as fconfig

log = logging.getLogger("mkdocs.hooks.config_reference")

PAGE = "config-reference.md"
NOTES = Path(__file__).with_name("config_fields.yaml")
ROOT = "Config"


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from the root, by class name (the schema's $defs keys)."""
    found: dict[str, type[BaseModel]] = {}

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                return
            found[tp.__name__] = tp
            for f in tp.model_fields.values():
                walk(f.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    walk(root)
    return found


def _seconds(value: float) -> str:
    """A duration default (the schema holds seconds) as the config writes it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    if value < 1:
        return f"{round(value * 1000)}ms"
    return f"{value:g}s"


def _is_duration(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "string" and "pattern" in prop and "examples" in prop


def _nullable(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the non-null branch, True) for `X | None`, else (prop, False)."""
    options = prop.get("anyOf")
    if options and len(options) == 2 and {"type": "null"} in options:
        return next(o for o in options if o != {"type": "null"}), True
    return prop, False


def _bounds(prop: dict[str, Any]) -> str:
    parts = []
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None and hi is not None:
        parts.append(f"{lo}..{hi}")
    elif lo is not None:
        parts.append(f">= {lo}")
    elif hi is not None:
        parts.append(f"<= {hi}")
    minimums = (
        ("minItems", "at least {} item(s)"),
        ("minProperties", "at least {} entry(ies)"),
        ("minLength", "at least {} character(s)"),
    )
    for key, words in minimums:
        if prop.get(key):
            parts.append(words.format(prop[key]))
    return f" ({', '.join(parts)})" if parts else ""


def _type(prop: dict[str, Any]) -> str:
    prop, nullable = _nullable(prop)
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        text = f"[{name}](#{name.lower()})"
    elif "enum" in prop:
        text = " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    elif "oneOf" in prop or "anyOf" in prop:
        text = " or ".join(_type(o) for o in prop.get("oneOf", prop.get("anyOf", [])))
    elif _is_duration(prop):
        text = "duration"
    elif prop.get("type") == "array":
        text = f"list of {_type(prop.get('items', {}))}"
    elif prop.get("type") == "object" and isinstance(prop.get("additionalProperties"), dict):
        text = f"map of name to {_type(prop['additionalProperties'])}"
    elif prop.get("format") == "path":
        text = "path"
    else:
        text = str(prop.get("type", "any"))
    text += _bounds(prop)
    return f"{text} or null" if nullable else text


def _default(prop: dict[str, Any], model: type[BaseModel] | None, field: str) -> str:
    if "default" not in prop:
        # a default_factory: the schema leaves it out, the model knows it
        fields = model.model_fields.items() if model else []
        info = next((f for k, f in fields if (f.alias or k) == field), None)
        if info is None or info.is_required():
            return "-"
        value = info.get_default(call_default_factory=True)
        return f"`{json.dumps(value, default=str)}`"
    value = prop["default"]
    branch, _ = _nullable(prop)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _is_duration(branch):
        return f"`{_seconds(float(value))}`"
    if isinstance(value, dict) and value:
        return "see the section"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _notes() -> dict[tuple[str, str], str]:
    """(model, field) -> description; a key may list several models, comma-separated."""
    raw = yaml.safe_load(NOTES.read_text()) or {}
    notes: dict[tuple[str, str], str] = {}
    for models, fields in raw.items():
        for model in (m.strip() for m in str(models).split(",")):
            for field, text in fields.items():
                notes[(model, field)] = str(text)
    return notes


def _paths(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Where each model sits in the file, as dotted paths (`services.NAME.policy`)."""
    defs = schema["$defs"]
    where: dict[str, list[str]] = {ROOT: ["(top level)"]}

    def refs(prop: dict[str, Any], path: str) -> list[tuple[str, str]]:
        prop, _ = _nullable(prop)
        if "$ref" in prop:
            return [(prop["$ref"].rsplit("/", 1)[1], path)]
        if prop.get("type") == "array":
            return refs(prop.get("items", {}), f"{path}[]")
        if isinstance(prop.get("additionalProperties"), dict):
            return refs(prop["additionalProperties"], f"{path}.NAME")
        return []

    queue = [(ROOT, "")]
    while queue:
        name, base = queue.pop(0)
        model = schema if name == ROOT else defs[name]
        for field, prop in model.get("properties", {}).items():
            for target, path in refs(prop, f"{base}.{field}" if base else field):
                if path not in where.setdefault(target, []):
                    where[target].append(path)
                    queue.append((target, path))
    return where


def render() -> str:
    schema = fconfig.json_schema()
    defs = schema["$defs"]
    classes = _models(fconfig.Config)
    notes = _notes()
    used: set[tuple[str, str]] = set()
    where = _paths(schema)
    order = [ROOT] + [n for n in where if n != ROOT] + sorted(set(defs) - set(where))
    out = [
        "# Configuration reference",
        "",
        "Generated from the JSON Schema that `failoverd schema` prints, at every build of these",
        "docs: it lists every section and field the code accepts, and nothing else. Durations",
        "are strings with a unit (`500ms`, `2s`, `5m`, `1h`, `1d`); unknown keys are errors.",
        "The [configuration guide](configuration.md) explains how the sections work together.",
        "",
    ]
    for name in order:
        model = schema if name == ROOT else defs[name]
        out += [f"## {name}", ""]
        paths = where.get(name, [])
        if paths:
            more = ", ..." if len(paths) > 6 else ""
            out += ["At " + ", ".join(f"`{p}`" for p in paths[:6]) + more, ""]
        if model.get("description"):
            out += [_cell(model["description"]), ""]
        required = set(model.get("required", []))
        out += ["| key | type | default | required | description |", "|---|---|---|---|---|"]
        for field, prop in model.get("properties", {}).items():
            text = prop.get("description") or notes.get((name, field))
            if (name, field) in notes:
                used.add((name, field))
            if not text:
                log.warning("config reference: %s.%s has no description", name, field)
                text = ""
            out.append(
                f"| `{field}` | {_type(prop)} | "
                f"{'-' if field in required else _default(prop, classes.get(name), field)} | "
                f"{'yes' if field in required else 'no'} | {_cell(text)} |"
            )
        out.append("")
    for model, field in sorted(set(notes) - used):
        log.warning("config reference: %s.%s is described but not in the schema", model, field)
    return "\n".join(out) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, PAGE, content=render()))
    return files
