"""Waiting on listeners in tests: a condition to become true, a server to close a connection."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def closed_by_server_within(client: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``client`` (fails when it takes longer than ``seconds``)."""
    started = time.monotonic()
    client.settimeout(seconds)
    try:
        while client.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLError):  # closed with a reset or a TLS alert
        pass
    return time.monotonic() - started
