"""Build the example city week in a temporary directory and save its HTML report as docs/report.png.

Run from the project root: ``.venv/bin/python docs/screenshot_report.py`` (needs chromium). The
data is made up by tests/report/city.py (the wards of examples/inventory.yaml, documentation
addresses): a week with a brute-force attack on ward 5, silent cameras, incidents and daily
compliance scans. The report is rendered by ``siem report`` and drawn by headless chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.report import city  # noqa: E402


def main() -> int:
    """Write docs/report.png; returns the exit status."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as temporary:
        data_dir = Path(temporary) / "siem-data"
        city.main([str(data_dir)])
        page = Path(temporary) / "report.html"
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(data_dir / "siem.yaml"),
                        "--data-dir", str(data_dir), "report", "--end", "2026-11-23T00:00+07:00",
                        "--output", str(page)], check=True)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={Path(temporary) / 'profile'}",
                        f"--screenshot={ROOT / 'docs' / 'report.png'}",
                        "--window-size=1280,2400", page.as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {ROOT / 'docs' / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
