"""A TLS 1.3 sender that writes its lines and closes without reading anything (as syslog
senders do) loses none of them: the server sends no session tickets, so the client's close is a
FIN, not a reset that would make the kernel drop what ``siem run`` had not read yet."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

from tests.conftest import free_port
from tests.hardening.siemproc import LINE, start_siem, stored_count
from tests.hardening.tlsutil import make_certificate

TOTAL = 30_000


def test_a_tls_sender_that_closes_at_once_loses_nothing(tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    port = free_port()
    config = (
        f"sources:\n  - {{type: syslog, name: tls-in, transport: tls, host: 127.0.0.1, port: {port},"
        f" tls: {{cert_file: '{cert.cert}', key_file: '{cert.key}'}}}}\n"
        "detection: {rules: []}\npipeline: {flush_interval: 0.1}\nstore: {retention: {max_age_days: 0}}\n"
    )
    siem = start_siem(config, tmp_path, tmp_path / "data")
    try:
        context = ssl.create_default_context(cafile=str(cert.cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        payload = b"".join(LINE % n for n in range(TOTAL))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.3"
            tls.sendall(payload)  # and close right away, reading nothing
        deadline = time.monotonic() + 60
        while stored_count(tmp_path / "data") < TOTAL and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        assert siem.stop() == 0, siem.log()
    assert stored_count(tmp_path / "data") == TOTAL
