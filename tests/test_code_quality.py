"""Style and types are checked with every test run: ruff over the tree, mypy (strict for siem/collectors)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_is_clean() -> None:
    result = run_tool("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    # Configuration (files, strict sections) lives in pyproject.toml.
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
