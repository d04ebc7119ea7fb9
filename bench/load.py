"""Load: senders over UDP, TCP and TLS on loopback at rising rates against a real ``siem run``.

Usage: ``python bench/load.py [--rates 5000,10000,20000,40000,70000,100000] [--seconds 3]
[--transports tcp,tls,udp] [--no-rules] [--keep-going] [--receive-buffer BYTES] [--workers N]``.

``siem run`` runs as a child process with the SQLite store, detection on (our rules in
``rules/``) and one syslog source per transport (sources labelled zone ``camera``, so the
failed logins feed the camera brute-force correlation). Each step sends for ``--seconds`` at one
rate a mix of sshd failed logins, ufw blocks and plain application lines, each line unique
and stamped with the current time.

A TCP/TLS rate is *sustained* when the sender kept the rate (within 3 %: backpressure slows
it otherwise), every line sent is stored, and the store caught up within 2 s of the end of the
step (no growing backlog). Escalation of a stream transport stops at its first unsustained
rate. UDP loss at a rate is ``1 - stored / sent``. Printed per step: achieved send rate, stored,
catch-up time, RSS of the siem process; at the end the highest sustained TCP/TLS rates and
the peak RSS (``VmHWM`` from /proc).

For UDP steps a second line splits the loss by where it happened: ``kernel`` (datagrams the
socket's receive buffer had no room for: the ``drops`` column of ``/proc/net/udp`` for the
listening socket, Linux only) and ``queue`` (datagrams received but refused by a full pipeline:
the source's ``dropped`` counter as ``siem run`` saves it in the store, less the kernel's drops
where the source counts those too); ``other`` is what
neither explains (sent minus stored, kernel and queue drops; e.g. lost on the sender's side).
A UDP step waits until each datagram is accounted for (its catch-up is the time to the last
event stored), so what a step left queued is not counted in the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.sources import syslog  # noqa: E402
from siem.config import Config  # noqa: E402
from siem.store.base import EventQuery, Store  # noqa: E402
from siem.store.factory import open_store  # noqa: E402

TEMPLATES = (
    b"<38>%s cam-w3-001 sshd[%d]: Failed password for admin from 203.0.113.%d port 52144 ssh2\n",
    b"<4>%s fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.%d DST=10.2.3.4 LEN=60 TOS=0x00"
    b" PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=40000 DPT=23 WINDOW=29200 RES=0x00 SYN URGP=0\n",
    b"<13>%s host app[7]: load line %d of %d\n",
    b"<13>%s host app[7]: load line %d of %d (b)\n",
)
TICK = 0.01
CATCH_UP_SECONDS = 2.0
#: Whether the UDP source counts the kernel's drops in its ``dropped`` counter.
KERNEL_DROPS_COUNTED = hasattr(syslog, "kernel_drops")
#: A UDP step ends when every datagram is accounted for, or when nothing moved for this long.
QUIET_SECONDS = 5.0


def line(n: int, stamp: bytes = b"Nov 25 10:00:00") -> bytes:
    """The ``n``-th unique line of the mix, with RFC 3164 time ``stamp`` (UTC)."""
    template = TEMPLATES[n % len(TEMPLATES)]
    if n % len(TEMPLATES) == 1:
        return template % (stamp, n % 250, n)
    return template % (stamp, n, n % 250)


def now_stamp() -> bytes:
    """The current time as an RFC 3164 timestamp: event time moves on as in real traffic, so
    correlation windows slide and expire as they would."""
    return time.strftime("%b %d %H:%M:%S", time.gmtime()).encode()


@dataclass
class Step:
    transport: str
    rate: int
    sent: int
    achieved: float
    stored: int
    catch_up: float
    rss_mb: float
    #: UDP: datagrams dropped by the kernel (receive buffer full; None where unknown) and by
    #: the pipeline (queue full) during the step.
    kernel_drops: int | None = None
    queue_drops: int = 0

    @property
    def sustained(self) -> bool:
        return self.achieved >= 0.97 * self.rate and self.stored >= self.sent and self.catch_up <= CATCH_UP_SECONDS


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``siem run`` as a child process."""

    def __init__(
        self,
        work: Path,
        transports: list[str],
        *,
        rules: bool,
        launcher: list[str] | None = None,
        receive_buffer: int | None = None,
        workers: int = 0,
    ) -> None:
        """``launcher``: what runs ``cli.py``'s arguments (default ``python cli.py``; ``bench/memory.py``
        puts its memory probe there). ``receive_buffer``: the UDP source's ``receive_buffer_bytes``.
        ``workers``: ``pipeline.workers``."""
        self.cert, self.key = make_certificate(work)
        self.ports = {t: free_port(socket.SOCK_DGRAM if t == "udp" else socket.SOCK_STREAM) for t in transports}
        sources = "".join(
            f"  - {{type: syslog, name: {t}-in, transport: {t}, host: 127.0.0.1, port: {port}, zone: camera"
            + (f", tls: {{cert_file: '{self.cert}', key_file: '{self.key}'}}" if t == "tls" else "")
            + (f", receive_buffer_bytes: {receive_buffer}" if t == "udp" and receive_buffer else "")
            + "}\n"
            for t, port in self.ports.items()
        )
        config = work / "siem.yaml"
        config.write_text(
            f"sources:\n{sources}"
            + ("" if rules else "detection: {rules: []}\n")
            + "store: {retention: {max_age_days: 0}}\n"
            + f"pipeline: {{workers: {workers}}}\n"
        )
        self.data_dir = work / "siem-data"
        self.log = work / "siem.log"
        with self.log.open("wb") as err:
            self.process = subprocess.Popen(
                [*(launcher or [sys.executable, str(ROOT / "cli.py")]), "--config", str(config),
                 "--data-dir", str(self.data_dir), "run", "--no-status-line"],
                stdout=subprocess.DEVNULL, stderr=err, cwd=work,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while "listening on" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"siem run did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.1)
        self.store: Store = open_store(Config(data_dir=str(self.data_dir)), self.data_dir)

    def stored(self) -> int:
        return self.store.count(EventQuery())

    def memory_mb(self, field: str = "VmRSS") -> float:
        for text in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if text.startswith(field + ":"):
                return int(text.split()[1]) / 1024
        return 0.0

    def stop(self) -> int:
        self.store.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


    def udp_kernel_drops(self) -> int | None:
        """Datagrams the UDP listening socket's receive buffer dropped (``/proc/net/udp``), or None."""
        port = self.ports.get("udp")
        if port is None:
            return None
        return kernel_drops(port)

    def source_counts(self, source: str) -> tuple[int, int]:
        """Records ``source`` handed over, and of those the ones a full pipeline refused (the
        counters as siem run last saved them, every second)."""
        for stats in self.store.source_stats():
            if stats.source == source:
                return stats.received, stats.dropped
        return 0, 0


def kernel_drops(port: int) -> int | None:
    """The ``drops`` of the UDP socket bound to ``port`` on 127.0.0.1 (``/proc/net/udp``), or None."""
    try:
        text = Path("/proc/net/udp").read_text()
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    for row in text.splitlines()[1:]:
        fields = row.split()
        if len(fields) >= 13 and fields[1] == wanted:
            return int(fields[12])
    return None


def connect(server: Server, transport: str) -> socket.socket:
    port = server.ports[transport]
    if transport == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        sock.connect(("127.0.0.1", port))
        return sock
    sock = socket.create_connection(("127.0.0.1", port))
    if transport == "tls":
        context = ssl.create_default_context(cafile=str(server.cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context.wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def send(sock: socket.socket, transport: str, first: int, rate: int, seconds: float) -> tuple[int, float]:
    """Send at ``rate`` lines/s for ``seconds``; returns lines sent and the seconds it took."""
    started = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int(rate * (time.perf_counter() - started + TICK)))
        if due > sent:
            stamp = now_stamp()
            lines = [line(n, stamp) for n in range(first + sent, first + due)]
            if transport == "udp":
                for datagram in lines:
                    with contextlib.suppress(OSError):  # ENOBUFS: lost on our side, counted as sent (and lost)
                        sock.send(datagram)
            else:
                sock.sendall(b"".join(lines))
            sent = due
        pause = started + sent / rate - time.perf_counter()
        if pause > 0:
            time.sleep(min(pause, TICK))
    return sent, time.perf_counter() - started


def wait_stored(server: Server, target: int, *, settle: bool, limit: float = 120.0) -> tuple[int, float]:
    """Wait until ``target`` events are stored (or, with ``settle``, the count stops moving)."""
    started = time.monotonic()
    last, last_change = server.stored(), started
    while last < target and time.monotonic() - started < limit:
        time.sleep(0.05)
        now = server.stored()
        if now != last:
            last, last_change = now, time.monotonic()
        elif settle and time.monotonic() - last_change > 1.5:
            break
    return last, (last_change if last < target else time.monotonic()) - started


def run_step(server: Server, transport: str, rate: int, seconds: float, first: int) -> Step:
    base = server.stored()
    if transport == "udp":
        return run_udp_step(server, rate, seconds, first, base)
    sock = connect(server, transport)
    try:
        sent, took = send(sock, transport, first, rate, seconds)
    finally:
        sock.close()
    stored, catch_up = wait_stored(server, base + sent, settle=False)
    return Step(transport, rate, sent, sent / took, stored - base, catch_up, server.memory_mb())


def run_udp_step(server: Server, rate: int, seconds: float, first: int, base: int, limit: float = 120.0) -> Step:
    """A UDP step, waiting until every datagram is accounted for: read by the source or dropped
    by the kernel, and of those read, stored or dropped by the pipeline (or nothing moved for
    ``QUIET_SECONDS``)."""
    source = "udp-in"
    kernel_base = server.udp_kernel_drops()
    received_base, queue_base = server.source_counts(source)
    sock = connect(server, "udp")
    try:
        sent, took = send(sock, "udp", first, rate, seconds)
    finally:
        sock.close()
    started = time.monotonic()
    last_change = quiet_since = started
    state: tuple[int, int | None, int, int] | None = None
    while time.monotonic() - started < limit:
        stored = server.stored() - base
        kernel_now = server.udp_kernel_drops()
        kernel = None if kernel_now is None or kernel_base is None else kernel_now - kernel_base
        received_now, dropped_now = server.source_counts(source)
        received, dropped = received_now - received_base, dropped_now - queue_base
        if KERNEL_DROPS_COUNTED:
            dropped -= kernel or 0
        if state is None or stored != state[0]:
            last_change = time.monotonic()
        if (stored, kernel, received, dropped) != state:
            state = (stored, kernel, received, dropped)
            quiet_since = time.monotonic()
        if received + (kernel or 0) >= sent and stored >= received - dropped:
            break
        if time.monotonic() - quiet_since > QUIET_SECONDS:
            break
        time.sleep(0.1)
    step = Step("udp", rate, sent, sent / took, stored, last_change - started, server.memory_mb())
    step.kernel_drops, step.queue_drops = kernel, dropped
    return step


def loss_split(step: Step) -> str:
    """Where a UDP step's datagrams were lost: kernel buffer, pipeline queue, elsewhere."""
    sent = step.sent or 1
    kernel = step.kernel_drops
    other = step.sent - step.stored - (kernel or 0) - step.queue_drops
    kernel_text = "n/a" if kernel is None else f"{kernel:,d} ({kernel / sent:.1%})"
    return (
        f"{'':9s} lost: kernel {kernel_text}, queue {step.queue_drops:,d} ({step.queue_drops / sent:.1%}),"
        f" other {other:,d} ({other / sent:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5000,10000,20000,40000,70000,100000")
    parser.add_argument("--seconds", type=float, default=3.0, help="sending time per step")
    parser.add_argument("--transports", default="tcp,tls,udp")
    parser.add_argument("--no-rules", action="store_true", help="detection off (for comparison)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every rate even after one is not sustained (e.g. to watch memory at one rate)")
    parser.add_argument("--receive-buffer", type=int, default=None,
                        help="receive_buffer_bytes of the UDP source (default: siem's)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=0, help="pipeline.workers of siem run (default 0)")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",")]
    transports = args.transports.split(",")
    with tempfile.TemporaryDirectory(prefix="siem-load-") as tmp:
        server = Server(Path(tmp), transports, rules=not args.no_rules, receive_buffer=args.receive_buffer,
                        workers=args.workers)
        print(f"siem run pid {server.process.pid}; detection {'off' if args.no_rules else 'on (rules/)'};"
              f" {args.seconds:g} s per step; CPUs {os.cpu_count()}")
        print(f"{'transport':9s} {'target/s':>9s} {'sent/s':>9s} {'sent':>9s} {'stored':>9s} {'loss':>7s}"
              f" {'catch-up':>8s} {'RSS MB':>7s}")
        first = 0
        best: dict[str, int] = {}
        try:
            for transport in transports:
                for rate in rates:
                    step = run_step(server, transport, rate, args.seconds, first)
                    first += step.sent
                    loss = 1 - step.stored / step.sent if step.sent else 0.0
                    verdict = "" if transport == "udp" else ("sustained" if step.sustained else "NOT sustained")
                    print(f"{transport:9s} {rate:9,d} {step.achieved:9,.0f} {step.sent:9,d} {step.stored:9,d}"
                          f" {loss:7.2%} {step.catch_up:7.1f}s {step.rss_mb:7.0f}  {verdict}", flush=True)
                    if transport == "udp":
                        print(loss_split(step), flush=True)
                    if transport != "udp":
                        if step.sustained:
                            best[transport] = max(best.get(transport, 0), rate)
                        elif not args.keep_going:
                            break
            peak = server.memory_mb("VmHWM")
        finally:
            code = server.stop()
            problems = [text for text in server.log.read_text(errors="replace").splitlines()
                        if " WARNING " in text or " ERROR " in text]
            if problems:
                print(f"siem run logged {len(problems)} warnings/errors, e.g.:", *problems[:5], sep="\n  ")
    for transport in transports:
        if transport != "udp":
            print(f"highest rate sustained with zero loss over {transport}: {best.get(transport, 0):,} msg/s")
    print(f"peak RSS of siem run: {peak:.0f} MB; siem run exited {code}")


if __name__ == "__main__":
    main()
