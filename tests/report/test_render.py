"""HTML, Markdown and chart output: well-formed, self-contained, the same tables, both languages."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siem.alert import Alert
from siem.config import Config
from siem.enrich.inventory import Inventory
from siem.i18n import set_language
from siem.report import charts, html, markdown
from siem.report.collect import ReportData, ReportRequest, collect
from siem.report.formatting import Formatter
from siem.store.factory import open_store
from tests.report import city

VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}
SVG_VOID = {"rect", "line", "circle", "polyline", "path"}


class Structure(HTMLParser):
    """Checks that every element is closed in order; collects tables, SVGs and URL attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [f"{name}={value}" for name, value in attrs if name in ("src", "href", "xlink:href", "action")]
        if tag == "tr":
            self.rows += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [f"{name}={value}" for name, value in attrs if name in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else '-'}>")
            return
        self.stack.pop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> ReportData:
    data_dir = tmp_path_factory.mktemp("city")
    store = open_store(Config(), data_dir)
    try:
        city.build(store, data_dir, per_device=2)
        # A rule title with markup, from the network: must come out escaped.
        store.write_alerts([Alert(
            id="alert-xss", rule_id="xss", rule_title='<script>alert("x")</script> & | pipe', level="low",
            first_seen=city.START + 100, last_seen=city.START + 200, event_ids=("e",), matched_fields={},
            site="ward-4", count=99, group_key="x")])
        request = ReportRequest(period="week", end=city.END, timezone=city.TIMEZONE, top=10)
        return collect(store, request, inventory=Inventory.load(city.INVENTORY), data_path=data_dir, now=city.END)
    finally:
        store.close()


@pytest.fixture
def vietnamese() -> Iterator[None]:
    set_language("vi")
    yield
    set_language("en")


def _svgs(document: str) -> list[ET.Element]:
    return [ET.fromstring(text) for text in re.findall(r"<svg\b.*?</svg>", document, re.DOTALL)]


def test_html_is_well_formed_and_self_contained(data: ReportData) -> None:
    document = html.render(data)
    parser = Structure()
    parser.feed(document)
    parser.close()
    assert parser.problems == [] and parser.stack == []
    assert parser.urls == []
    assert "http://" not in document and "https://" not in document
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "<script>" not in document and "&lt;script&gt;" in document
    svgs = _svgs(document)
    titles = {svg.findtext("title") for svg in svgs}
    assert titles >= {"Events per day per ward", "Alerts by severity per ward", "Top rules",
                      "Top talkers (source addresses)", "Silent sources per ward",
                      "Compliance checks per ward (latest scan)", "Compliance trend (share of checks passed)",
                      "Median time to resolve"}
    for svg in svgs:
        assert svg.get("role") == "img"
        labelled = (svg.get("aria-labelledby") or "").split()
        assert [svg.find("title"), svg.find("desc")] and len(labelled) == 2
        assert {child.get("id") for child in svg if child.tag in ("title", "desc")} == set(labelled)


def test_events_chart_stacks_the_table_numbers(data: ReportData) -> None:
    svg = next(svg for svg in _svgs(html.render(data)) if svg.findtext("title") == "Events per day per ward")
    bars = [rect.findtext("title") or "" for rect in svg.iter("rect") if rect.find("title") is not None]
    ward5 = [title for title in bars if "— Ward 5:" in title]
    assert len(ward5) == 7
    total = sum(int(title.rsplit(": ", 1)[1].replace(",", "")) for title in ward5)
    assert total == sum(item.events for item in data.events_per_day if item.site == "ward-5")


def test_markdown_has_the_same_tables(data: ReportData) -> None:
    document = html.render(data)
    text = markdown.render(data)
    captions = re.findall(r"<h2>(.*?)</h2>", document)
    assert re.findall(r"^## (.*)$", text, re.MULTILINE) == captions
    parser = Structure()
    parser.feed(document)
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table_lines) == parser.rows  # header rows and body rows, table for table
    assert "\\| pipe" in text and "<script>" in text  # Markdown escapes pipes; text is text
    assert "| Ward 5 |" in text


def test_vietnamese_labels_and_numbers(data: ReportData, vietnamese: None) -> None:
    local = replace(data, language="vi")
    document = html.render(local)
    assert '<html lang="vi">' in document
    assert "Báo cáo an ninh mạng hằng tuần: 16/11/2026 – 22/11/2026" in document
    assert "Sự kiện theo ngày và theo phường" in document and "nghiêm trọng" in document
    assert re.search(r"\d\.\d{3}", document)  # thousands with a dot
    assert "không có trong kỳ này" in markdown.render(local)


def test_formatter_and_axis_steps() -> None:
    english, vietnamese = Formatter("en", "UTC"), Formatter("vi", "Asia/Ho_Chi_Minh")
    assert english.number(1234567.891, 1) == "1,234,567.9"
    assert vietnamese.number(1234567.891, 1) == "1.234.567,9"
    assert english.day(city.END) == "Sun 22 Nov" and vietnamese.day(city.END) == "T2 23/11"
    assert english.hours(0.5) == "30 min" and vietnamese.hours(30) == "30,0 giờ" and english.hours(72) == "3.0 d"
    assert charts.nice_max(7) == (8, 2) and charts.nice_max(1) == (1, 1) and charts.nice_max(0) == (1, 1)
    assert charts.nice_max(9197) == (10000, 2500)
    top, step = charts.nice_max(0.6, whole=False)
    assert top >= 0.6 and math.isclose(top / step, round(top / step))


def test_chart_text_is_escaped() -> None:
    svg = charts.bar_chart("c1", "A <b> title", "desc & more", ["<evil>"], [3.0])
    root = ET.fromstring(svg)
    assert root.findtext("title") == "A <b> title"
    assert "<evil>" not in svg and "&lt;evil&gt;" in svg


def test_missing_everything_still_renders(tmp_path: Path) -> None:
    store = open_store(Config(), tmp_path)
    try:
        empty = collect(store, ReportRequest(end=city.END), data_path=tmp_path)
    finally:
        store.close()
    document = html.render(empty)
    assert "No events in this period." in document and "No compliance scan yet" in document
    assert "<svg" not in document
    assert "_No open incidents._" in markdown.render(empty)
