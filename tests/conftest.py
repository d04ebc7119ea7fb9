"""Shared fixtures: the corpus directory, a temporary data directory, a free loopback port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS_ENV = "SIEM_CORPUS"

# The machines are small and shared: no per-example deadline, no "too slow" health check.
settings.register_profile("siem", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("siem")


def corpus_path() -> Path:
    """``$SIEM_CORPUS`` or ``../shared/corpus`` beside the project."""
    return Path(os.environ.get(CORPUS_ENV, PROJECT_ROOT.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus; tests using it skip with a reason when it is absent."""
    path = corpus_path()
    if not path.is_dir():
        pytest.skip(f"corpus not found at {path} (set {CORPUS_ENV} to its location)")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory for one test."""
    path = tmp_path / "siem-data"
    path.mkdir()
    return path


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port on loopback that is free right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def english_by_default() -> Iterator[None]:
    """Each test starts in English: a command run with --lang vi sets the process language."""
    from siem.i18n import DEFAULT_LANGUAGE, set_language

    set_language(DEFAULT_LANGUAGE)
    yield
    set_language(DEFAULT_LANGUAGE)
