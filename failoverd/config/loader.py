"""YAML in, a validated Config out, and every error as `FILE:LINE: field.path: message`.

The person reading the error is editing YAML at 3 a.m.: each problem names the file, the line
and the field. Unknown keys are errors (a typo must never silently disable a probe).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from failoverd.config.daemon import Config

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A config file that cannot be used; `errors` holds one `FILE:LINE: path: message` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _compose(text: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML into plain data plus the line of every key and list item."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{name}:{line}: {getattr(e, 'problem', None) or e}"]) from None
    if node is None:
        raise ConfigError([f"{name}:1: the file is empty"])
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    errors: list[str] = []

    def walk(n: yaml.Node, path: Path_) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: set[Any] = set()
            for k, v in n.value:
                key = k.value
                if key in seen:
                    errors.append(
                        f"{name}:{k.start_mark.line + 1}: {_dotted((*path, key))}: duplicate key"
                    )
                seen.add(key)
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    if errors:
        raise ConfigError(errors)
    data = yaml.SafeLoader(text).get_single_data()
    return data, lines


def _dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _line_of(loc: Path_, lines: Mapping[Path_, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def parse(text: str, name: str = "<config>") -> Config:
    """Validate YAML text; ConfigError lists every problem as `NAME:LINE: field.path: message`."""
    data, lines = _compose(text, name)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{name}:1: the file must be a mapping of sections (services:, api:, ...)"]
        )
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        errors = []
        for err in e.errors(include_url=False):
            # pydantic puts model-validator failures under the model; drop its internal tags
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (misspelt, or in the wrong section?)"
            errors.append(f"{name}:{_line_of(loc, lines)}: {_dotted(loc)}: {msg}")
        raise ConfigError(errors) from None


def load(path: str | Path) -> Config:
    """Read and validate a config file (see parse)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError([f"{p}:0: cannot read the file: {e.strerror}"]) from None
    return parse(text, str(p))


def json_schema() -> dict[str, Any]:
    return Config.model_json_schema(by_alias=True)
