"""The command line as a whole: lazy loading, both entry points, the error boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

HEAVY = ("scapy", "pyshark", "elasticsearch", "sigma", "textual", "jinja2")


def test_help_imports_no_heavy_package() -> None:
    code = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from cli import root\n"
        "result = CliRunner().invoke(root, ['--help'])\n"
        f"print(json.dumps([result.exit_code, [m for m in {HEAVY!r} if m in sys.modules], result.output]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    exit_code, loaded, text = json.loads(out.stdout)
    assert exit_code == 0
    assert loaded == []
    for command in ("run", "ingest", "search", "status", "detect", "rules", "incidents", "triage"):
        assert command in text


def test_python_cli_py_works_like_siem() -> None:
    out = subprocess.run(
        [sys.executable, "cli.py", "--version"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert "siem" in out.stdout


def test_bad_config_is_one_line_with_the_key_and_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text("pipeline:\n  queue_sise: 10\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "cli.py", "--config", str(config), "status"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 3
    assert out.stderr.strip().splitlines() == [
        f"error: {config}:2: unknown key 'pipeline.queue_sise' (known here: batch_size, flush_interval, fsync, "
        "queue_size, spool, spool_min_free_mb, workers)"
    ]
