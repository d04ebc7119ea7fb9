"""Configuration loading: defaults, overrides, and errors that name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem.config import Config, load_config
from siem.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "siem.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_no_file_gives_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIEM_HOME", raising=False)
    monkeypatch.delenv("SIEM_CONFIG", raising=False)
    config = load_config()
    assert config == Config()
    assert [s.transport for s in config.sources] == ["udp", "tcp"]
    assert config.sources[0].port == 5514


def test_values_are_bound_with_types(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "data_dir: /var/lib/siem\n"
            "sources:\n"
            "  - {type: syslog, transport: tls, port: 6514, tls: {cert_file: c.pem, require_client_cert: true}}\n"
            "  - {type: file, paths: /var/log/auth.log}\n"
            "pipeline: {flush_interval: 1}\n"
            "detection: {placeholders: {admins: [root, admin]}}\n",
        )
    )
    assert config.data_dir == "/var/lib/siem"
    assert config.sources[0].tls.require_client_cert is True
    assert config.sources[1].paths == ("/var/log/auth.log",)
    assert config.pipeline.flush_interval == 1.0
    assert config.detection.placeholders == {"admins": ("root", "admin")}


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  backend: sqlite\n  retension: {max_age_days: 3}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 3
    assert "store.retension" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:3:")


def test_wrong_type_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline:\n  queue_size: lots\n")
    with pytest.raises(ConfigError, match=r"pipeline.queue_size must be a whole number") as caught:
        load_config(path)
    assert caught.value.line == 2


def test_bad_choice_and_bad_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"detection\.logsource must be one of"):
        load_config(write(tmp_path, "detection: {logsource: loose}\n"))
    with pytest.raises(ConfigError, match=r"sources\[0\].transport"):
        load_config(write(tmp_path, "sources: [{type: syslog, transport: sctp}]\n"))
    with pytest.raises(ConfigError, match=r"sources\[0\].paths"):
        load_config(write(tmp_path, "sources: [{type: file}]\n"))


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate key 'site'") as caught:
        load_config(write(tmp_path, "site: a\nsite: b\n"))
    assert caught.value.line == 2


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML") as caught:
        load_config(write(tmp_path, "site: a\nsources: [\n  {type: syslog\n"))
    assert caught.value.line is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_overrides_beat_environment_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, "data_dir: from-file\nlanguage: en\n")
    monkeypatch.setenv("SIEM_HOME", "from-env")
    monkeypatch.setenv("SIEM_LANG", "vi")
    assert load_config(path).data_dir == "from-env"
    assert load_config(path).language == "vi"
    assert load_config(path, data_dir="from-cli").data_dir == "from-cli"
