"""``siem init``: the commented siem.yaml loads back to the defaults and names every key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from cli import root
from siem.commands.init import render
from siem.config import Config, load_config
from siem.errors import ConfigError


def keys_of(cls: type[Any], prefix: str = "") -> set[str]:
    """Dotted key paths of a config dataclass (sources: those of SourceConfig)."""
    found = set()
    for field in dataclasses.fields(cls):
        if field.metadata.get("internal"):
            continue
        name = f"{prefix}{field.name}"
        found.add(name)
        default = field.default_factory() if callable(field.default_factory) else field.default  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            found |= keys_of(type(default), name + ".")
        elif name == "sources":
            found |= keys_of(type(default[0]), "sources.")
    return found


def flatten(node: Any, prefix: str = "") -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            name = f"{prefix}{key}"
            found.add(name)
            if key != "placeholders":
                found |= flatten(value, name + ".")
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for item in node:
            found |= flatten(item, prefix)
    return found


def test_init_writes_a_config_that_loads_to_the_defaults(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(root, ["init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "siem-data").is_dir()
    assert (tmp_path / "siem-data").stat().st_mode & 0o777 == 0o700
    loaded = load_config(str(tmp_path / "siem.yaml"))
    assert dataclasses.replace(loaded, source_file=None) == Config()
    text = (tmp_path / "siem.yaml").read_text()
    assert flatten(yaml.safe_load(text)) == keys_of(Config)
    assert text.count("\n#") + text.count("  #") > 20  # commented


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "custom.yaml"
    target.write_text("language: vi\n")
    base = ["--config", str(target), "--data-dir", str(tmp_path / "data")]
    refused = CliRunner().invoke(root, [*base, "init"])
    assert isinstance(refused.exception, ConfigError)
    assert target.read_text() == "language: vi\n"
    forced = CliRunner().invoke(root, [*base, "init", "--force"], catch_exceptions=False)
    assert forced.exit_code == 0
    assert load_config(str(target)).data_dir == str(tmp_path / "data")
    assert render("x y") != render()
