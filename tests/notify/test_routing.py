"""End to end against aiosmtpd: mail content, routing, digests and rate limiting."""

from __future__ import annotations

from pathlib import Path

from siem.notify.config import RateLimitConfig, RouteConfig
from siem.notify.dispatcher import EmailDispatcher
from tests.notify.conftest import IT, WARD3, Clock, Recorder, SmtpServer, email_config, make_alert


def test_critical_alert_goes_out_at_once_with_all_details(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    alert = make_alert("critical")
    dispatcher.submit([alert], {alert.id: "INC-0042"})
    report = dispatcher.tick(clock())

    assert report is not None and report.sent == 1 and report.pending == 0
    [mail] = recorder.received
    assert mail.recipients == ["it@hospital.example"]
    assert mail.mail_from == "siem@hospital.example"
    assert mail.subject == "[SIEM] CRITICAL: SSH brute force (ward-3)"
    assert mail.message["Message-ID"].endswith("@hospital.example>")
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.body("plain")
    for expected in (
        "57 failures in 2 min",  # summary
        "ward-3",  # site
        "cameras",  # zone
        "cam-w3-001",  # asset
        "Ward 3 IT",  # owner
        "source.ip: 203.0.113.9",  # matched field
        "attack.t1110",
        "2026-09-21 14:11:20 UTC",  # first seen (1789999880)
        "siem incidents show INC-0042",
    ):
        assert expected in text, expected
    html = mail.body("html")
    assert "siem incidents show INC-0042" in html
    assert "cam-w3-001" in html


def test_html_body_escapes_values_from_the_network(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    hostile = make_alert("high", matched_fields={"user.name": "<script>alert(1)</script>"})
    dispatcher.submit([hostile])
    dispatcher.drain()

    [mail] = recorder.received
    assert "<script>" not in mail.body("html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.body("html")
    assert "<script>alert(1)</script>" in mail.body("plain")


def test_vietnamese_mail(plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock) -> None:
    config = email_config(plain_server.port, language="vi", timezone="Asia/Ho_Chi_Minh")
    dispatcher = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    alert = make_alert("critical")
    dispatcher.submit([alert], {alert.id: "INC-7"})
    dispatcher.drain()

    [mail] = recorder.received
    assert mail.subject == "[SIEM] NGHIÊM TRỌNG: SSH brute force (ward-3)"
    text = mail.body("plain")
    assert "Chuyện gì đã xảy ra" in text
    assert "Người phụ trách: Ward 3 IT" in text
    assert "Để mở, chạy lệnh: siem incidents show INC-7" in text
    assert "2026-09-21 21:11:20 +07" in text  # local time in the configured zone
    assert "Thư do siem gửi tự động" in mail.body("html")
    assert 'lang="vi"' in mail.body("html")


def test_routing_by_severity_and_site(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port, routes=(IT, WARD3)), data_dir / "outbox", clock=clock)
    dispatcher.submit(
        [
            make_alert("critical", site="ward-3", rule_title="Camera firmware change"),
            make_alert("high", site="ward-1", rule_title="Port scan"),
            make_alert("low", site="ward-3", rule_title="Telnet login"),
            make_alert("informational", site="ward-3", rule_title="Heartbeat"),
        ]
    )
    dispatcher.tick(clock())

    it_subjects = sorted(mail.subject for mail in recorder.to("it@hospital.example"))
    assert it_subjects == [
        "[SIEM] CRITICAL: Camera firmware change (ward-3)",
        "[SIEM] HIGH: Port scan (ward-1)",
    ]
    ward_subjects = [mail.subject for mail in recorder.to("ward3@hospital.example")]
    assert ward_subjects == ["[SIEM] CRITICAL: Camera firmware change (ward-3)"]
    # The low alert waits for the IT digest; the informational one is below every route.
    clock.advance(IT.digest_minutes * 60)
    dispatcher.tick(clock())
    [digest] = [mail for mail in recorder.to("it@hospital.example") if "Digest" in mail.subject]
    assert digest.subject == "[SIEM] Digest: 1 alert (it)"
    assert "Telnet login" in digest.body("plain")
    assert "Heartbeat" not in digest.body("plain")
    assert len(recorder.received) == 4


def test_digest_is_sent_when_due_and_only_once(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    start = clock()
    dispatcher.submit([make_alert("medium", rule_title="Weak TLS"), make_alert("low", rule_title="Telnet login")])
    clock.advance(120)
    dispatcher.submit([make_alert("medium", rule_title="DNS tunnelling", site="ward-1")])

    dispatcher.tick(start + 599)
    assert recorder.received == []
    clock.now = start + 600
    dispatcher.tick(clock())
    [digest] = recorder.received
    assert digest.subject == "[SIEM] Digest: 3 alerts (it)"
    text = digest.body("plain")
    assert text.index("Weak TLS") < text.index("Telnet login")  # medium before low
    assert "DNS tunnelling" in text
    assert "DNS tunnelling" in digest.body("html")

    clock.advance(3600)
    dispatcher.tick(clock())
    assert len(recorder.received) == 1


def test_digest_waiting_on_disk_survives_a_restart(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    config = email_config(plain_server.port)
    first = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    first.submit([make_alert("low", rule_title="Telnet login")])
    del first

    clock.advance(600)
    second = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    second.tick(clock())
    [digest] = recorder.received
    assert "Telnet login" in digest.body("plain")


def test_alert_storm_becomes_one_summary(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    config = email_config(plain_server.port, rate_limit=RateLimitConfig(max_messages=10, window_seconds=300))
    dispatcher = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    storm = [
        make_alert("critical", matched_fields={"source.ip": f"198.51.100.{index % 7}"}) for index in range(500)
    ]
    for start in range(0, 500, 50):  # arrives in batches, as from the pipeline
        dispatcher.submit(storm[start : start + 50])
        clock.advance(10)
    dispatcher.tick(clock())
    assert len(recorder.received) == 10

    clock.advance(300)
    dispatcher.tick(clock())
    summaries = [mail for mail in recorder.received if "Alert storm" in mail.subject]
    assert len(summaries) == 1
    assert len(recorder.received) == 11
    summary = summaries[0]
    assert summary.subject == "[SIEM] Alert storm: 490 alerts in 7 min (it)"
    text = summary.body("plain")
    assert "490  SSH brute force" in text
    assert "198.51.100.0" in text

    clock.advance(3600)
    dispatcher.tick(clock())
    assert len(recorder.received) == 11


def test_same_alert_submitted_twice_is_mailed_once(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    alert = make_alert("critical")
    dispatcher.submit([alert])
    dispatcher.drain()
    dispatcher.submit([alert])  # a replay folds into the same alert id
    dispatcher.drain()
    assert len(recorder.received) == 1


def test_route_without_immediate_puts_everything_in_the_digest(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    route = RouteConfig(name="daily", recipients=("boss@hospital.example",), immediate=False, digest_minutes=1440)
    dispatcher = EmailDispatcher(email_config(plain_server.port, routes=(route,)), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical"), make_alert("medium")])
    dispatcher.tick(clock())
    assert recorder.received == []
    dispatcher.flush()
    dispatcher.drain()
    [digest] = recorder.received
    assert digest.subject == "[SIEM] Digest: 2 alerts (daily)"


def test_an_alert_folded_again_is_listed_once_in_the_digest(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    alert = make_alert("medium", rule_title="Weak TLS", count=3)
    dispatcher.submit([alert])
    dispatcher.submit([make_alert("medium", id=alert.id, rule_title="Weak TLS", count=9)])
    clock.advance(600)
    dispatcher.tick(clock())
    [digest] = recorder.received
    assert digest.subject == "[SIEM] Digest: 1 alert (it)"
    assert "Occurrences: 9" in digest.body("plain")
