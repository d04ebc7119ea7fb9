"""The ``role`` and ``forwarder:`` keys: bound, checked, and errors that name key and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from siem.config import load_config
from siem.errors import ConfigError
from tests.conftest import PROJECT_ROOT


def test_forwarder_section_is_bound(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text("role: forwarder\nforwarder:\n  host: siem.city.example\n  buffer_max_mb: 0.5\n  window: 2\n")
    config = load_config(str(path))
    assert config.role == "forwarder"
    assert config.forwarder.host == "siem.city.example"
    assert config.forwarder.buffer_max_bytes == 512 * 1024
    assert config.forwarder.window == 2


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("forwarder:\n  host: a\n  buffer_mb: 5\n", "unknown key 'forwarder.buffer_mb'", 3),
        ("forwarder:\n  alarm_percent: 120\n", "forwarder.alarm_percent must be between 1 and 100", 1),
        ("role: relay\n", "role must be one of server, forwarder", None),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(str(path))
    assert raised.value.path == str(path)
    if line is not None:
        assert raised.value.line == line


def test_a_forwarder_without_certificates_says_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text("sources: []\nforwarder: {cert_file: /nonexistent.crt}\n")
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(path), "--data-dir", str(tmp_path / "d"),
         "run", "--role", "forwarder"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 3
    assert "forwarder.key_file, forwarder.ca_file" in result.stderr
