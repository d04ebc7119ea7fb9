"""The ``alerts:`` and ``incidents:`` sections of siem.yaml: defaults, binding, mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem.config import Config, load_config
from siem.errors import ConfigError


def test_defaults_are_the_documented_slas() -> None:
    sla = Config().incidents.sla
    assert [(s.acknowledge_minutes, s.resolve_minutes) for s in (sla.critical, sla.high, sla.medium, sla.low)] == [
        (15, 240), (60, 1440), (480, 4320), (1440, 10080)]
    assert Config().alerts.window_minutes == 15
    assert Config().alerts.default_group_by == ("source.ip", "destination.ip", "host.name")


def test_sections_bind_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text(
        "alerts:\n  window_minutes: 5\n  group_by:\n    'SSH*': [source.ip]\n"
        "incidents:\n  min_level: high\n  sla:\n    critical: {acknowledge_minutes: 5, resolve_minutes: 60}\n"
    )
    config = load_config(str(path))
    assert config.alerts.group_by == {"SSH*": ("source.ip",)} and config.alerts.window_minutes == 5
    assert config.incidents.min_level == "high"
    assert config.incidents.sla.critical.acknowledge_minutes == 5
    assert config.incidents.sla.high.acknowledge_minutes == 60  # untouched severities keep defaults


def test_a_misspelt_key_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text("incidents:\n  sla:\n    critcal: {acknowledge_minutes: 5, resolve_minutes: 60}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'incidents\.sla\.critcal'") as caught:
        load_config(str(path))
    assert caught.value.line == 3


def test_a_bad_level_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text("incidents:\n  min_level: urgent\n")
    with pytest.raises(ConfigError, match="min_level must be one of"):
        load_config(str(path))
