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


MAX_BYTES = 16 << 20  # 4,000 services fit in ~3 MiB; 16 MiB is already absurd
MAX_NODES = 500_000  # YAML nodes after aliases are expanded (4,000 services: ~100,000)
MAX_DEPTH = 64
MAX_INT_DIGITS = 18
_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


class _Walk:
    """One pass over the node graph: lines of every key and item, and every bound checked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[Path_, int] = {}
        self.errors: list[str] = []
        self.walked: set[int] = set()  # an aliased node is checked once, where it first appears

    def fail(self, n: yaml.Node, path: Path_, message: str) -> None:
        self.errors.append(f"{self.name}:{n.start_mark.line + 1}: {_dotted(path)}: {message}")

    def stop(self, n: yaml.Node, message: str) -> ConfigError:
        return ConfigError([f"{self.name}:{n.start_mark.line + 1}: {message}"])

    def node(self, n: yaml.Node, path: Path_) -> None:
        if id(n) in self.walked:
            return
        self.walked.add(id(n))
        if len(path) > MAX_DEPTH:
            raise self.stop(n, f"nesting too deep (over {MAX_DEPTH} levels)")
        if n.tag not in _TAGS:
            self.fail(n, path, f"unsupported YAML tag {n.tag!r}")
        elif isinstance(n, yaml.MappingNode):
            self.mapping(n, path)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                self.node(item, (*path, i))
        elif n.tag == "tag:yaml.org,2002:int" and len(n.value) > MAX_INT_DIGITS:
            self.fail(n, path, f"a number of {len(n.value)} digits is not a setting")

    def mapping(self, n: yaml.MappingNode, path: Path_) -> None:
        seen: set[str] = set()
        for k, v in n.value:
            if k.tag != "tag:yaml.org,2002:str":
                what = repr(k.value) if isinstance(k, yaml.ScalarNode) else "a list or mapping"
                self.fail(k, path, f"keys must be strings, not {what}")
                continue
            key = k.value
            if key in seen:
                self.fail(k, (*path, key), "duplicate key")
            seen.add(key)
            self.lines[(*path, key)] = k.start_mark.line + 1
            self.node(v, (*path, key))


def _expanded(n: yaml.Node, memo: dict[int, int]) -> int:
    """How many values `n` stands for with every alias expanded (each node counted once)."""
    if id(n) not in memo:
        memo[id(n)] = 1  # guards a cycle (a recursive alias) while it is being counted
        if isinstance(n, yaml.MappingNode):
            memo[id(n)] += sum(_expanded(k, memo) + _expanded(v, memo) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            memo[id(n)] += sum(_expanded(item, memo) for item in n.value)
    return memo[id(n)]


def _compose(text: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML into plain data plus the line of every key and list item.

    Bounded: size, nesting, alias expansion and integer length are checked while walking the
    node graph, before any Python object is built, so a hostile file costs little.
    """
    if len(text) > MAX_BYTES:
        raise ConfigError([f"{name}:1: the file is over {MAX_BYTES} bytes"])
    too_deep = ConfigError([f"{name}:1: nesting too deep (over {MAX_DEPTH} levels)"])
    loader = _LOADER(text)
    try:
        return _checked(loader, name, too_deep)
    finally:
        loader.dispose()


# libyaml's parser when PyYAML has it (about 10x faster: a 2,000-service file parses in about
# a second instead of 7), else the pure-Python one; both give the same nodes and marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _checked(loader: Any, name: str, too_deep: ConfigError) -> tuple[Any, dict[Path_, int]]:
    """Compose, check every bound on the nodes, then build the data from those nodes."""
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as e:
        if "maximum nesting depth" in str(e):  # libyaml's own bound (1,000 levels)
            raise too_deep from None
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{name}:{line}: {getattr(e, 'problem', None) or e}"]) from None
    except RecursionError:
        raise too_deep from None
    if node is None:
        raise ConfigError([f"{name}:1: the file is empty"])
    walk = _Walk(name)
    walk.lines[()] = node.start_mark.line + 1
    try:
        if _expanded(node, {}) > MAX_NODES:
            raise walk.stop(
                node, f"over {MAX_NODES} values once aliases are expanded (a YAML alias bomb?)"
            )
        walk.node(node, ())
    except RecursionError:
        raise too_deep from None
    if walk.errors:
        raise ConfigError(walk.errors)
    try:
        data = loader.construct_document(node)  # from the checked nodes: no second parse
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        raise ConfigError([f"{name}:1: {e}"]) from None
    return data, walk.lines


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
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError([f"{p}:0: cannot read the file: {e.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError([f"{p}:{line}: the file is not UTF-8 text ({e.reason})"]) from None
    return parse(text, str(p))


def json_schema() -> dict[str, Any]:
    return Config.model_json_schema(by_alias=True)


def locate(path: str | Path, loc: Path_, message: str) -> str:
    """`FILE:LINE: field.path: message` for a problem found after loading (the file re-read)."""
    try:
        _, lines = _compose(Path(path).read_text(), str(path))
    except (OSError, UnicodeDecodeError, ConfigError):
        lines = {}
    return f"{path}:{_line_of(loc, lines)}: {_dotted(loc)}: {message}"
