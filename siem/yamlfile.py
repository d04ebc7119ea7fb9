"""YAML loading that remembers line numbers and rejects duplicate keys.

Used for the configuration, the asset inventory and compliance checks, so that an error can
name the file, the line and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from siem.errors import ConfigError


class LocatedDict(dict[str, Any]):
    """A mapping from YAML that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """Line of ``key`` in the file, or of the mapping itself."""
        return self.key_lines.get(key, self.line)


class _LocatingLoader(yaml.SafeLoader):
    path: str = "<string>"


def _construct_mapping(loader: _LocatingLoader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    mapping = LocatedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in mapping:
            raise ConfigError(
                f"duplicate key {key!r} (first at line {mapping.key_lines[key]})",
                path=loader.path,
                line=line,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml_text(text: str, path: str = "<string>") -> Any:
    """Parse YAML text; mappings become LocatedDict. Syntax errors name the line."""

    class Loader(_LocatingLoader):
        pass

    Loader.path = path
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from exc
    except RecursionError as exc:  # hostile nesting ([[[[...): PyYAML's composer recurses
        raise ConfigError("invalid YAML: nested too deeply", path=path) from exc
    except ValueError as exc:  # e.g. an integer of over 4,300 digits (Python's int() limit)
        raise ConfigError(f"invalid YAML: {exc}", path=path) from exc


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file (see load_yaml_text)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", path=path) from exc
    return load_yaml_text(text, str(path))
