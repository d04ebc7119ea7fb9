"""The integrity seal head in reports: HTML, Markdown and JSON, both languages, usable by ``siem verify --anchor``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem import event as ecs
from siem.config import Config
from siem.i18n import set_language
from siem.integrity.verify import current_head
from siem.report import html, jsondoc, markdown
from siem.report.collect import ReportData, ReportRequest, collect
from siem.store.factory import open_store
from tests.notify.conftest import Recorder, SmtpServer
from tests.report import city

HEAD = re.compile(r"Seal head: #(\d+) sha256:([0-9a-f]{64})")


def _events(count: int, first: int = 0) -> list[ecs.Event]:
    return [{ecs.ID: f"seal-{number}", ecs.TIMESTAMP: ecs.format_timestamp(city.START + number * 60),
             ecs.DATASET: "linux.auth", ecs.ORIGINAL: f"line {number}"} for number in range(first, first + count)]


def _seal(data_dir: Path) -> Path:
    """``data_dir`` with a store that sealed three batches of events."""
    store = open_store(Config(), data_dir)
    try:
        for batch in range(3):
            store.write(_events(4, batch * 4))
    finally:
        store.close()
    return data_dir


@pytest.fixture(scope="module")
def sealed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose store sealed three batches of events (read only by the tests)."""
    return _seal(tmp_path_factory.mktemp("sealed"))


@pytest.fixture
def vietnamese() -> Iterator[None]:
    set_language("vi")
    yield
    set_language("en")


def _collect(data_dir: Path) -> tuple[ReportData, int, str]:
    store = open_store(Config(), data_dir)
    try:
        head = current_head(store)
        data = collect(store, ReportRequest(end=city.END, timezone="UTC"), data_path=data_dir, now=city.END)
    finally:
        store.close()
    assert head is not None and head.seal >= 3
    return data, head.seal, head.chain.hex()


def test_every_format_shows_the_current_head(sealed_dir: Path) -> None:
    data, seal, chain = _collect(sealed_dir)
    assert data.seal_head is not None and (data.seal_head.seal, data.seal_head.chain) == (seal, chain)
    for text in (html.render(data), markdown.render(data)):
        found = HEAD.search(text)
        assert found is not None and (int(found.group(1)), found.group(2)) == (seal, chain)
        assert "somewhere other than this machine" in text and "siem verify --anchor FILE" in text
    document = json.loads(jsondoc.render(data))
    assert document["seal_head"]["seal"] == seal and document["seal_head"]["chain"] == chain


def test_vietnamese_report_says_to_record_the_head(sealed_dir: Path, vietnamese: None) -> None:
    data, seal, chain = _collect(sealed_dir)
    text = markdown.render(data)
    assert f"Đầu chuỗi niêm phong: #{seal} sha256:{chain}" in text
    assert "ở nơi khác ngoài máy này" in text and "Seal head" not in text


def test_store_without_seals_says_so(tmp_path: Path) -> None:
    store = open_store(Config(), tmp_path)
    try:
        data = collect(store, ReportRequest(end=city.END), data_path=tmp_path, now=city.END)
    finally:
        store.close()
    assert data.seal_head is None
    assert "Seal head: none" in markdown.render(data) and "Seal head: none" in html.render(data)
    assert json.loads(jsondoc.render(data))["seal_head"] is None


def siem(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), *args])


def test_head_from_a_report_is_an_anchor_for_verify(tmp_path: Path) -> None:
    """The head printed in a report, saved elsewhere, is what ``siem verify --anchor`` checks against."""
    sealed_dir = _seal(tmp_path)
    result = siem(sealed_dir, "report", "--format", "json", "--timezone", "UTC")
    assert result.exit_code == 0, result.output
    head = json.loads(result.output)["seal_head"]
    anchor = tmp_path / "kept-elsewhere.json"
    anchor.write_text(json.dumps(head), encoding="utf-8")
    store = open_store(Config(), sealed_dir)
    try:
        store.write(_events(2, 100))  # the chain grows after the report: the old head must still be reached
    finally:
        store.close()
    result = siem(sealed_dir, "verify", "--anchor", str(anchor))
    assert result.exit_code == 0, result.output
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**head, "chain": "00" * 32}), encoding="utf-8")
    result = siem(sealed_dir, "verify", "--anchor", str(forged))
    assert result.exit_code == 1, result.output


def test_the_mailed_report_carries_the_head_off_the_machine(
    tmp_path: Path, plain_server: SmtpServer, recorder: Recorder
) -> None:
    data_dir = _seal(tmp_path)
    store = open_store(Config(), data_dir)
    try:
        head = current_head(store)
    finally:
        store.close()
    assert head is not None
    config = tmp_path / "siem.yaml"
    config.write_text(
        "email:\n  enabled: true\n  from_address: siem@city.example\n"
        f"  smtp: {{host: 127.0.0.1, port: {plain_server.port}, security: plain, timeout: 5}}\n"
        "  routes:\n    - {name: leaders, recipients: [director@city.example]}\n", encoding="utf-8")
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), "report", "--email"])
    assert result.exit_code == 0, result.output
    [mail] = recorder.received
    line = f"Seal head: #{head.seal} sha256:{head.chain.hex()}"
    assert line in mail.body("plain") and line in mail.body("html")
