"""``siem report`` end to end: a real store on disk, files, stdout, exit codes, and real SMTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.config import Config
from siem.errors import ConfigError, ExitCode
from siem.store.factory import open_store
from tests.conftest import PROJECT_ROOT
from tests.notify.conftest import Recorder, SmtpServer
from tests.report import city

END = "2026-11-23T00:00+07:00"


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the example week (built once for the module; reports only read it)."""
    data_dir = tmp_path_factory.mktemp("city") / "siem-data"
    data_dir.mkdir()
    store = open_store(Config(), data_dir)
    try:
        city.build(store, data_dir, per_device=1)
    finally:
        store.close()
    return data_dir


def write_config(tmp_path: Path, port: int | None = None) -> Path:
    path = tmp_path / "siem.yaml"
    text = f"inventory: {city.INVENTORY}\nemail:\n  timezone: {city.TIMEZONE}\n"
    if port is not None:
        text += (
            "  enabled: true\n"
            "  from_address: siem@city.example\n"
            f"  smtp: {{host: 127.0.0.1, port: {port}, security: plain, timeout: 5}}\n"
            "  routes:\n"
            "    - {name: leaders, recipients: [director@city.example, it@city.example], min_severity: high}\n"
            "    - {name: ward5, recipients: [w5@city.example], sites: [ward-5]}\n"
        )
    path.write_text(text, encoding="utf-8")
    return path


def siem(config: Path, data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), *args])


def test_html_to_a_file_and_json_to_stdout(city_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    output = tmp_path / "week.html"
    result = siem(config, city_dir, "report", "--end", END, "--output", str(output))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Weekly security report: 16 Nov 2026 – 22 Nov 2026" in page
    result = siem(config, city_dir, "report", "--end", END, "--format", "json", "--top", "3")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["timezone"] == city.TIMEZONE and len(document["top_talkers"]) == 3
    assert {item["name"] for item in document["silent_sources"]} == {*city.SILENT, city.STOPPED}


def test_markdown_in_vietnamese_for_a_month(city_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = siem(config, city_dir, "--lang", "vi", "report", "--period", "month", "--end", END,
                  "--format", "markdown", "--timezone", "UTC")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Báo cáo an ninh mạng hằng tháng: 24/10/2026 – 22/11/2026")
    assert "| Phường 5 |" in result.output


def test_bad_options_exit_with_usage_or_config_codes(city_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = siem(config, city_dir, "report", "--end", "last tuesday")
    assert result.exit_code == ExitCode.USAGE and "--end" in result.output
    result = siem(config, city_dir, "report", "--timezone", "Mars/Olympus")
    assert result.exit_code == ExitCode.USAGE and "time zone" in result.output
    result = siem(config, city_dir, "report", "--route", "leaders")
    assert result.exit_code == ExitCode.USAGE and "--email" in result.output
    result = siem(config, city_dir, "report", "--email")
    assert isinstance(result.exception, ConfigError) and "email.enabled" in str(result.exception)
    # Through the real entry point: one line and the named exit code.
    process = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(city_dir),
         "report", "--email"], capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == ExitCode.CONFIG and "email.enabled" in process.stderr
    assert process.stdout == ""
    result = siem(config, city_dir, "report", "--output", str(tmp_path / "missing" / "r.html"))
    assert result.exit_code != 0


def test_email_goes_to_city_wide_routes_as_html_with_a_text_part(
    city_dir: Path, tmp_path: Path, plain_server: SmtpServer, recorder: Recorder
) -> None:
    config = write_config(tmp_path, plain_server.port)
    result = siem(config, city_dir, "--lang", "vi", "report", "--end", END, "--email")
    assert result.exit_code == 0, result.output
    [mail] = recorder.received
    assert sorted(mail.recipients) == ["director@city.example", "it@city.example"]
    assert mail.subject == "[SIEM] Báo cáo an ninh mạng hằng tuần: 16/11/2026 – 22/11/2026"
    assert "<svg" in mail.body("html") and "Phường 5" in mail.body("html")
    assert "| Phường 5 |" in mail.body("plain")
    # The same period again (a scheduled job re-run): queued once, not sent twice.
    again = siem(config, city_dir, "--lang", "vi", "report", "--end", END, "--email")
    assert again.exit_code == 0 and len(recorder.received) == 1
    ward = siem(config, city_dir, "report", "--end", END, "--email", "--route", "ward5")
    assert ward.exit_code == 0 and recorder.received[-1].recipients == ["w5@city.example"]


def test_email_waits_in_the_outbox_while_the_server_is_down(city_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import free_port

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = write_config(tmp_path, free_port())  # nothing listens there
    result = siem(config, data_dir, "report", "--end", END, "--email")
    assert result.exit_code == ExitCode.ERROR
    assert len(list((data_dir / "outbox" / "queue").glob("*.eml"))) == 1
