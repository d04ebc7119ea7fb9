"""The HTML report in a real browser: Debian's chromium, headless (skipped when not installed).

``--dump-dom`` gives the DOM after parsing (the charts must be there as SVG elements), and
``--enable-logging=stderr --v=0`` prints every console message (``:CONSOLE``): a report with
no script and no external resource must print none. ``--screenshot`` must draw a PNG of the
requested size.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from siem.config import Config
from siem.enrich.inventory import Inventory
from siem.report import html
from siem.report.collect import ReportRequest, collect
from siem.store.factory import open_store
from tests.report import city

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium); the HTML report is checked in a browser",
)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("city")
    store = open_store(Config(), data_dir)
    try:
        city.build(store, data_dir, per_device=2)
        request = ReportRequest(period="week", end=city.END, timezone=city.TIMEZONE)
        data = collect(store, request, inventory=Inventory.load(city.INVENTORY), data_path=data_dir, now=city.END)
    finally:
        store.close()
    path = data_dir / "report.html"
    path.write_text(html.render(data), encoding="utf-8")
    return path


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=tmp_path)


def console_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode(errors="replace").splitlines() if ":CONSOLE" in line]


def test_charts_are_in_the_rendered_dom_without_console_messages(report_file: Path, tmp_path: Path) -> None:
    result = chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    dom = result.stdout.decode()
    assert console_lines(result.stderr) == []
    assert len(re.findall(r"<svg\b", dom)) == len(re.findall(r"<svg\b", report_file.read_text(encoding="utf-8")))
    for ident in ("chart-events", "chart-alerts", "chart-rules", "chart-talkers", "chart-silent",
                  "chart-compliance", "chart-compliance-trend", "chart-resolve"):
        assert f'id="{ident}-title"' in dom
    assert "<rect" in dom and "<polyline" in dom


def test_console_messages_would_be_caught(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>console.error("broken report")</script></body></html>', encoding="utf-8")
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert any("broken report" in line for line in console_lines(result.stderr))


def test_screenshot_is_drawn(report_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "out.png"
    result = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", report_file.as_uri())
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert console_lines(result.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000  # a drawn page, not a blank one
