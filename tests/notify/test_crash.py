"""A real process is killed (SIGKILL) while it sends; a new process finishes the outbox."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from siem.notify.dispatcher import EmailDispatcher
from tests.conftest import PROJECT_ROOT
from tests.notify.conftest import Recorder, SmtpServer, email_config

CHILD = """
import sys
from pathlib import Path
from siem.notify.dispatcher import EmailDispatcher
from siem.notify.config import RateLimitConfig
from tests.notify.conftest import email_config, make_alert
port, outbox = int(sys.argv[1]), Path(sys.argv[2])
dispatcher = EmailDispatcher(email_config(port, rate_limit=RateLimitConfig(max_messages=100)), outbox)
for index in range(20):
    dispatcher.submit([make_alert("critical", id=f"crash-{index:02d}", rule_title=f"Rule {index:02d}")])
print("queued", flush=True)
dispatcher.drain()
"""


def test_killed_sender_loses_nothing_and_resends_at_most_one_with_the_same_id(
    recorder: Recorder, smtp_port: int, data_dir: Path
) -> None:
    recorder.delay = 0.05
    server = SmtpServer(smtp_port, recorder)
    server.start()
    outbox = data_dir / "outbox"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(smtp_port), str(outbox)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "queued"
        deadline = time.monotonic() + 20
        while len(recorder.received) < 5 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.kill()
        child.wait(timeout=10)
        before = len(recorder.received)
        assert 5 <= before < 20, "the child should die in the middle of the queue"

        recorder.delay = 0
        report = EmailDispatcher(email_config(smtp_port), outbox).drain()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        server.stop()

    assert report.pending == 0 and report.error is None
    subjects = [str(mail.message["Subject"]) for mail in recorder.received]
    expected = [f"[SIEM] CRITICAL: Rule {index:02d} (ward-3)" for index in range(20)]
    assert list(dict.fromkeys(subjects)) == expected  # all delivered, in order
    assert len(subjects) - len(expected) <= 1  # at most the one in flight is repeated
    ids: dict[str, set[str]] = {}
    for mail in recorder.received:
        ids.setdefault(str(mail.message["Subject"]), set()).add(str(mail.message["Message-ID"]))
    assert all(len(found) == 1 for found in ids.values())  # a repeat carries the same Message-ID
