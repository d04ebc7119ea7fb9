"""Forwarder throughput: syslog lines through a ward forwarder to the centre, against direct.

Usage: ``python bench/forward.py [--lines 50000]``. Starts real ``siem run`` processes on
loopback with a throwaway CA (mutual TLS) and prints, for ``--lines`` syslog lines sent over
one TCP connection:

- direct: lines to the centre's own TCP syslog source, until all are stored;
- forwarded: lines to a ward forwarder (parse, enrich, disk buffer, TLS link) until the centre
  stored all;
- backlog drain: lines buffered by a ward while the centre is down, then the rate at which the
  centre stores them once it is up (from its "listening" line).

Rates are events/s; the ratio compares forwarded with direct in the same run. Needs the
``cryptography`` package (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siem.config import Config  # noqa: E402
from siem.store.base import EventQuery  # noqa: E402
from siem.store.factory import open_store  # noqa: E402
from tests.forward.certs import TestCA  # noqa: E402

LINE = b"<86>Nov 25 10:00:00 ward3-gw sshd[4242]: Failed password for root from 10.3.0.%d port %d ssh2\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(work: Path, name: str, config: str, *extra: str) -> subprocess.Popen[bytes]:
    path = work / f"{name}.yaml"
    path.write_text(config)
    stderr = work / f"{name}.err"
    with stderr.open("wb") as err:
        command = [sys.executable, str(ROOT / "cli.py"), "--config", str(path), "--data-dir", str(work / name)]
        process = subprocess.Popen(
            [*command, "run", *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 60
    while b"listening on" not in stderr.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"{name} did not start: {stderr.read_text()}")
        time.sleep(0.05)
    return process


def stored(data_dir: Path) -> int:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return store.count(EventQuery())
    finally:
        store.close()


def wait_stored(data_dir: Path, total: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while stored(data_dir) < total:
        if time.monotonic() > deadline:
            sys.exit(f"only {stored(data_dir)} of {total} events stored in {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter()


def send(port: int, total: int) -> None:
    payload = b"".join(LINE % (n % 250, n) for n in range(total))
    with socket.create_connection(("127.0.0.1", port)) as tcp:
        tcp.sendall(payload)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    total = parser.parse_args().lines
    with tempfile.TemporaryDirectory(prefix="siem-bench-forward-") as tmp:
        work = Path(tmp)
        ca = TestCA(work / "pki")
        centre_pair, ward_pair = ca.issue("centre", server=True), ca.issue("ward-3", server=False)
        link_port, centre_syslog, ward_syslog = free_port(), free_port(), free_port()
        tls = f"{{cert_file: '{centre_pair.cert}', key_file: '{centre_pair.key}', ca_file: '{ca.ca_file}'}}"
        common = "store: {retention: {max_age_days: 0}}\ndetection: {rules: []}\n"
        centre_config = (
            "sources:\n"
            f"  - {{type: forwarder, name: wards, port: {link_port}, tls: {tls}}}\n"
            f"  - {{type: syslog, name: direct, transport: tcp, port: {centre_syslog}}}\n{common}"
        )

        def ward_config(port: int) -> str:
            return (
                f"site: ward-3\nsources:\n  - {{type: syslog, name: ward-tcp, transport: tcp, port: {port}}}\n"
                f"forwarder: {{port: {link_port}, cert_file: '{ward_pair.cert}', key_file: '{ward_pair.key}',"
                f" ca_file: '{ca.ca_file}', reconnect_max_seconds: 0.5}}\n{common}"
            )

        centre = start(work, "centre", centre_config)
        began = time.perf_counter()
        send(centre_syslog, total)
        direct = total / (wait_stored(work / "centre", total) - began)

        ward = start(work, "ward", ward_config(ward_syslog), "--role", "forwarder")
        began = time.perf_counter()
        send(ward_syslog, total)
        forwarded = total / (wait_stored(work / "centre", 2 * total) - began)

        stop(centre)
        ward_b_port = free_port()
        stop(ward)
        ward = start(work, "ward", ward_config(ward_b_port), "--role", "forwarder")
        send(ward_b_port, total)
        buffer_dir = work / "ward" / "forward-buffer"
        while sum(path.stat().st_size for path in buffer_dir.glob("*.seg")) < total * 200:
            time.sleep(0.05)  # wait until (about) every line is buffered
        time.sleep(1.0)
        centre = start(work, "centre", centre_config)
        began = time.perf_counter()
        drain = total / (wait_stored(work / "centre", 3 * total) - began)
        stop(ward)
        stop(centre)
    print(f"lines: {total:,} per run (one TCP connection, loopback, mutual TLS link)")
    print(f"direct to the centre:        {direct:>10,.0f} events/s")
    print(f"through a ward forwarder:    {forwarded:>10,.0f} events/s  ({forwarded / direct:.2f} x direct)")
    print(f"backlog drain after outage:  {drain:>10,.0f} events/s  ({drain / direct:.2f} x direct)")


if __name__ == "__main__":
    main()
