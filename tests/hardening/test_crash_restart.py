"""kill -9 at random points while ``siem run`` ingests, detects, alerts and mails: after the
restarts the store, the alerts and the mail are what one uninterrupted run of the same input
gives (each event once, the same alert groups, each mail once by Message-ID).

The sender is reliable the way a real relay with an application acknowledgement would be:
after each kill it resumes from the first line that ``siem run`` had not journaled (in the
spool or the store); lines still in the kernel's socket buffers when the process died were
never accepted, and are sent again.

With ``pipeline.workers: 2`` the same holds when the main process is killed: its worker
processes (and multiprocessing's resource tracker) exit on their own once it is gone
(test_worker_orphans checks that they do at once, even mid-batch), and nothing they had in hand
was committed, so the restart replays it.
"""

from __future__ import annotations

import calendar
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem import event as ecs
from siem.config import Config
from siem.pipeline.spool import Spool
from siem.store.base import AlertQuery, EventQuery, IncidentQuery
from siem.store.factory import open_store
from tests.conftest import free_port
from tests.hardening.siemproc import Proc, SiemProcess, children, start_siem
from tests.notify.conftest import Recorder, SmtpServer

SEED = 8
KILLS = 6
#: Kills with ``pipeline.workers: 2`` (each restart starts the workers again: fewer kills, same coverage of
#: ingest, alerting and the mail tick).
WORKER_KILLS = 3
#: How long worker processes may outlive a killed main process (they watch it: a fraction of a second).
ORPHAN_SECONDS = 10.0
TOTAL = 3000
RATE = 1500  # lines per second
ATTACKERS = 12
#: The camera brute-force correlation (rules/authentication/auth_camera_brute_force.yml).
CORRELATION = "cd3f50e7-28d7-43b1-84c0-1476ea6f5efa"
CORRELATION_TITLE = "Brute Force Against Cameras or NVRs"
BASE = calendar.timegm((2026, 11, 25, 8, 0, 0, 0, 0, 0))


def line(n: int) -> bytes:
    """The n-th failed login (event time 3 s apart, ATTACKERS sources): camera brute force."""
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(BASE + 3 * n))
    ip = f"203.0.113.{10 + n % ATTACKERS}"
    return (f"<38>{stamp} cam-w3-001 sshd[{1000 + n}]: Failed password for admin from {ip} port 5{n:04d} ssh2\n"
            ).encode()


def message(n: int) -> str:
    return line(n).decode().split(": ", 1)[1].strip()


def config_text(port: int, smtp_port: int, workers: int = 0) -> str:
    return (
        f"sources:\n  - {{type: syslog, name: tcp-in, transport: tcp, host: 127.0.0.1, port: {port}, zone: camera}}\n"
        f"pipeline: {{flush_interval: 0.05, batch_size: 100, workers: {workers}}}\n"
        "store: {retention: {max_age_days: 0}}\n"
        "email:\n  enabled: true\n  from_address: siem@city.example\n"
        f"  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: plain, timeout: 5}}\n"
        "  routes: [{name: it, recipients: [it@city.example], min_severity: low, immediate_severity: low}]\n"
        "  rate_limit: {max_messages: 100000, window_seconds: 60}\n"
        "  retry: {initial_seconds: 0.5, max_seconds: 1}\n"
    )


class Sender(threading.Thread):
    """Sends lines ``start``.. at RATE over one connection until done or told to stop."""

    def __init__(self, port: int, start: int) -> None:
        super().__init__(daemon=True)
        self.port, self.next = port, start
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                began, first = time.monotonic(), self.next
                while self.next < TOTAL and not self.halt.is_set():
                    due = min(TOTAL, first + int((time.monotonic() - began + 0.02) * RATE))
                    if due > self.next:
                        sock.sendall(b"".join(line(n) for n in range(self.next, due)))
                        self.next = due
                    time.sleep(0.01)
        except OSError:
            pass  # the server was killed under us


def journaled(data_dir: Path) -> list[str]:
    """Messages siem run has accepted: in the store, or in the spool waiting to be stored."""
    messages = [str(e.get(ecs.MESSAGE)) for e in scan_events(data_dir)]
    spool = Spool(data_dir / "spool")
    for batch in spool.replay(None):
        messages += [record.text.split(": ", 1)[1].strip() for record in batch]
    return messages


def scan_events(data_dir: Path) -> list[dict[str, object]]:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return [dict(event) for event in store.search(EventQuery(limit=1_000_000))]
    finally:
        store.close()


def accepted_prefix(data_dir: Path) -> int:
    """How many lines, from the first, siem run accepted (checking that they form a prefix)."""
    seen = set(journaled(data_dir))
    count = 0
    while count < TOTAL and message(count) in seen:
        count += 1
    assert all(message(n) not in seen for n in range(count, TOTAL)), "accepted lines are not a prefix"
    return count


#: rule id, level, first seen, last seen, count, summary
AlertRow = tuple[str, str, float, float, int, str]
Outcome = tuple[Counter[str], list[AlertRow], Counter[str], Counter[str]]


def outcome(data_dir: Path, recorder: Recorder) -> Outcome:
    """Events (messages, counted), alert groups (by content), mails (one per Message-ID, by
    subject and what happened) and incidents (by title, severity and site)."""
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        events = Counter(str(e.get(ecs.MESSAGE)) for e in store.search(EventQuery(limit=1_000_000)))
        alerts = sorted(
            (a.rule_id, a.level, a.first_seen, a.last_seen, a.count, a.summary)
            for a in store.find_alerts(AlertQuery(limit=100_000, suppressed=False))
        )
        incidents = Counter(f"{i.title} | {i.severity} | {i.site}"
                            for i in store.find_incidents(IncidentQuery(limit=100_000)))
    finally:
        store.close()
    by_id = {str(m.message["Message-ID"]): m for m in recorder.received}
    mails = Counter(f"{m.subject} | {what_happened(m.body('plain'))}" for m in by_id.values())
    return events, alerts, mails, incidents


def what_happened(body: str) -> str:
    """The alert's one-line summary in a mail body (it names the attacker)."""
    lines = [text.strip() for text in body.splitlines()]
    return lines[lines.index("What happened") + 1] if "What happened" in lines else lines[0]


def settle(siem: SiemProcess, recorder: Recorder, data_dir: Path) -> None:
    """Wait until every line is stored and the outbox is empty, then stop siem run cleanly."""
    deadline = time.monotonic() + 90
    while len(scan_events(data_dir)) < TOTAL:
        assert siem.alive(), siem.log()
        assert time.monotonic() < deadline, "not every line was stored"
        time.sleep(0.2)
    queue = data_dir / "outbox" / "queue"
    while any(queue.glob("*.eml")):
        assert time.monotonic() < deadline, f"the outbox did not drain: {siem.log()}"
        time.sleep(0.2)
    assert siem.stop() == 0, siem.log()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpServer, Recorder]]:
    recorder = Recorder(delay=0.01)
    server = SmtpServer(free_port(), recorder)
    server.start()
    yield server, recorder
    server.stop()


def run_once(work: Path, smtp_port: int, recorder: Recorder, *, kills: list[float], workers: int = 0) -> Path:
    """Feed every line to siem run, killing it after each delay in ``kills``; returns the data dir.

    With ``workers``, each kill hits the main process only, and its worker processes must then exit."""
    work.mkdir()
    data_dir = work / "siem-data"
    port = free_port()
    start = 0
    for delay in [*kills, None]:
        siem = start_siem(config_text(port, smtp_port, workers), work, data_dir)
        sender = Sender(port, start)
        sender.start()
        if delay is None:
            sender.join(60)
            settle(siem, recorder, data_dir)
            break
        time.sleep(delay)
        helpers = children(siem.process.pid)
        siem.kill()  # SIGKILL, to the main process only (as the OOM killer would)
        sender.halt.set()
        sender.join(30)
        if workers:
            assert_orphans_exit(helpers, workers, siem)
        start = accepted_prefix(data_dir)
    return data_dir


def assert_orphans_exit(helpers: list[Proc], workers: int, siem: SiemProcess) -> None:
    """The killed siem run had ``workers`` worker processes; none outlives it by ORPHAN_SECONDS."""
    spawned = [proc for proc in helpers if "multiprocessing.spawn" in proc.cmdline]
    assert len(spawned) == workers, f"expected {workers} worker processes, found {helpers}: {siem.log()}"
    deadline = time.monotonic() + ORPHAN_SECONDS
    while left := [proc for proc in helpers if proc.running()]:
        assert time.monotonic() < deadline, f"still running {ORPHAN_SECONDS:.0f} s after siem run was killed: {left}"
        time.sleep(0.05)


@pytest.mark.parametrize(("workers", "kill_count"), [(0, KILLS), (2, WORKER_KILLS)], ids=["thread", "workers-2"])
def test_kill_9_at_random_points_gives_what_an_uninterrupted_run_gives(
    tmp_path: Path, smtp: tuple[SmtpServer, Recorder], workers: int, kill_count: int
) -> None:
    server, recorder = smtp
    baseline_dir = run_once(tmp_path / "baseline", server.port, recorder, kills=[], workers=workers)
    expected = outcome(baseline_dir, recorder)
    assert sum(expected[0].values()) == TOTAL and set(expected[0].values()) == {1}
    assert any(alert[1] == "high" for alert in expected[1]), "the brute-force correlation should fire"
    assert expected[2], "the baseline should send mail"

    recorder.received.clear()
    rng = random.Random(SEED)
    kills = [rng.uniform(0.3, 2.5) for _ in range(kill_count - 1)] + [rng.uniform(5.0, 6.5)]  # the last in a mail tick
    crashed_dir = run_once(tmp_path / "crashed", server.port, recorder, kills=kills, workers=workers)
    events, alerts, mails, incidents = outcome(crashed_dir, recorder)

    assert events == expected[0]  # every line stored exactly once
    # Base rules: the same alert groups, counts included, and the same mail (once per Message-ID).
    assert split(alerts)[0] == split(expected[1])[0]
    assert split_mails(mails)[0] == split_mails(expected[2])[0]
    # Correlations: their windows are saved with each committed batch, so a window straddling a
    # kill goes on where it was: the same groups (first seen, last seen, count grown by the hits
    # each match absorbed, summary) as uninterrupted, one group and one mail per attacker.
    assert split(alerts)[1] == split(expected[1])[1]
    groups = correlation_groups(alerts)
    assert len(groups) == len(set(groups)) == ATTACKERS
    assert all(alert[4] > 5 for alert in split(alerts)[1]), "continuing attacks should grow their alert"
    # One mail per attacker (the summary names it). The figures at its end ("8 in 250s") are the
    # group's when the mail was queued, which depends on how lines fell into batches: not compared.
    assert attackers(split_mails(mails)[1]) == attackers(split_mails(expected[2])[1])
    assert sum(split_mails(mails)[1].values()) == ATTACKERS
    assert incidents == expected[3]

def split(alerts: list[AlertRow]) -> tuple[list[AlertRow], list[AlertRow]]:
    """Base-rule alerts, correlation alerts."""
    return [a for a in alerts if a[0] != CORRELATION], [a for a in alerts if a[0] == CORRELATION]


def split_mails(mails: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    """Mails of base-rule alerts, mails of correlation alerts."""
    return (Counter({k: v for k, v in mails.items() if CORRELATION_TITLE not in k}),
            Counter({k: v for k, v in mails.items() if CORRELATION_TITLE in k}))


def attackers(mails: Counter[str]) -> Counter[str]:
    """Correlation mails by subject and attacker (their summary without the figures after it)."""
    out: Counter[str] = Counter()
    for key, count in mails.items():
        subject, _, what = key.rpartition(" | ")
        out[f"{subject} | {what.split(': ', 1)[0]}"] += count
    return out


def correlation_groups(alerts: list[AlertRow]) -> list[str]:
    """The attacker of each correlation alert group (from its summary)."""
    return [str(a[5]).split(" from ")[1].split(":")[0] for a in alerts if a[0] == CORRELATION]
