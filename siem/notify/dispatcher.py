"""Routing alerts to e-mail: immediate mails, digests and storm summaries, through the outbox.

``submit()`` decides per route: alerts at or above the route's ``immediate_severity`` become
one mail each at once, unless the route already sent ``rate_limit.max_messages`` mails in the
current window (then they wait for one storm summary at the end of the window); the others
wait for the route's digest. ``tick()`` (called periodically by the runner) turns due digests
and storm summaries into mails and drains the outbox, backing off while the server is down.
Everything waiting is on disk, so a restart loses nothing.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from siem.alert import LEVELS, Alert
from siem.errors import SiemError
from siem.i18n import DEFAULT_LANGUAGE
from siem.notify.config import EmailConfig, RouteConfig
from siem.notify.outbox import Outbox
from siem.notify.pending import Bucket, PendingAlert, load_window, save_window
from siem.notify.render import Mail, Renderer, build_message
from siem.notify.smtp import DeliveryError, Notifier, PermanentDeliveryError, SmtpAuthError, SmtpNotifier

log = logging.getLogger(__name__)

#: The outbox's directory name inside the data directory.
OUTBOX_DIR = "outbox"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one drain of the outbox did."""

    sent: int = 0
    #: Messages the server refused for good (moved to ``outbox/failed``).
    failed: int = 0
    #: Messages still waiting in the queue.
    pending: int = 0
    #: Why delivery stopped (server down, login rejected), or None.
    error: str | None = None
    #: True when the server rejected the login (a configuration problem, not an outage).
    auth_failed: bool = False
    #: True when another process was sending this outbox (nothing was tried).
    busy: bool = False


class _RouteState:
    """The on-disk waiting areas of one route."""

    def __init__(self, root: Path, route: RouteConfig) -> None:
        directory = root / "routes" / route.name
        self.route = route
        self.digest = Bucket(directory / "digest")
        self.storm = Bucket(directory / "storm")
        self.window_file = directory / "window.json"


class EmailDispatcher:
    """Routes alerts to mail and delivers them through the durable outbox."""

    def __init__(
        self,
        config: EmailConfig,
        outbox_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        language: str | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.outbox = Outbox(outbox_dir, keep_sent=config.keep_sent)
        lang = config.language or language or DEFAULT_LANGUAGE
        self.renderer = Renderer(language=lang, timezone=config.timezone)
        self.notifier: Notifier = notifier if notifier is not None else SmtpNotifier(config.smtp)
        self._routes = [_RouteState(outbox_dir, route) for route in config.routes]
        self._state_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._failures = 0
        self._next_attempt = 0.0

    def submit(
        self, alerts: Sequence[Alert], incident_ids: Mapping[str, str] | None = None, *, urgent_only: bool = False
    ) -> None:
        """Route ``alerts`` (incident ids by alert id, where known) into the outbox or a digest.

        ``urgent_only`` (alerts recovered after a crash) queues only immediate mail, which the
        outbox keeps once per alert; digest entries, which it cannot check, are left alone."""
        now = self.clock()
        incidents = incident_ids or {}
        with self._state_lock:
            for state in self._routes:
                items = [
                    PendingAlert(alert, incidents.get(alert.id), now)
                    for alert in alerts
                    if _matches(state.route, alert)
                ]
                if items:
                    self._submit_route(state, items, now, urgent_only=urgent_only)

    def tick(self, now: float | None = None) -> DeliveryReport | None:
        """Send due digests and storm summaries, then drain the outbox unless backing off."""
        moment = self.clock() if now is None else now
        with self._state_lock:
            for state in self._routes:
                self._flush_storm(state, moment, force=False)
                self._flush_digest(state, moment, force=False)
        if moment < self._next_attempt or not self.outbox.pending():
            return None
        return self.drain()

    def flush(self) -> None:
        """Turn everything waiting (digests, storm summaries) into mails now, e.g. at shutdown."""
        moment = self.clock()
        with self._state_lock:
            for state in self._routes:
                self._flush_storm(state, moment, force=True)
                self._flush_digest(state, moment, force=True)

    def send_test(self, route_name: str | None = None) -> int:
        """Queue a test mail for each route (or only ``route_name``); returns how many."""
        moment = self.clock()
        gettext = self.renderer.gettext
        subject = gettext("[SIEM] Test message")
        text = gettext("This is a test message from siem: e-mail to this address works.")
        queued = 0
        with self._state_lock:
            for state in self._routes:
                if route_name is not None and state.route.name != route_name:
                    continue
                mail = Mail(subject, text + "\n", f"<p>{html.escape(text)}</p>\n", "informational")
                queued += self._enqueue(mail, state.route, f"test:{state.route.name}:{moment!r}", moment)
        return queued

    def drain(self) -> DeliveryReport:
        """Send queued mails in order until the queue is empty or the server fails."""
        sent = failed = 0
        error: str | None = None
        auth_failed = False
        with self._send_lock, self.outbox.sender_lock() as mine:
            if not mine:
                log.info("another process is sending the outbox %s", self.outbox.root)
                return DeliveryReport(pending=len(self.outbox.pending()), busy=True)
            try:
                for path in self.outbox.pending():
                    message = self.outbox.load(path)
                    try:
                        self.notifier.send(message)
                    except PermanentDeliveryError as exc:
                        log.error("mail %s refused for good, kept in outbox/failed: %s", path.name, exc)
                        self.outbox.mark_failed(path, str(exc))
                        failed += 1
                        continue
                    except SmtpAuthError as exc:
                        error, auth_failed = str(exc), True
                        break
                    except DeliveryError as exc:
                        error = str(exc)
                        break
                    self.outbox.mark_sent(path)
                    sent += 1
            finally:
                self.notifier.close()
            self._after_drain(error, auth_failed)
            return DeliveryReport(sent, failed, len(self.outbox.pending()), error, auth_failed)

    def _after_drain(self, error: str | None, auth_failed: bool) -> None:
        if error is None:
            self._failures = 0
            self._next_attempt = 0.0
            return
        retry = self.config.retry
        delay = min(retry.initial_seconds * 2**self._failures, retry.max_seconds)
        self._failures += 1
        self._next_attempt = self.clock() + delay
        if auth_failed:
            log.error("%s; mails wait in the outbox", error)
        else:
            log.warning("%s; %d mail(s) wait in the outbox, next try in %.0f s",
                        error, len(self.outbox.pending()), delay)

    def _submit_route(self, state: _RouteState, items: list[PendingAlert], now: float, *, urgent_only: bool) -> None:
        route = state.route
        immediate_rank = LEVELS.index(route.immediate_severity)
        urgent: list[PendingAlert] = []
        later: list[PendingAlert] = []
        for item in items:
            is_urgent = route.immediate and item.alert.severity_rank >= immediate_rank
            (urgent if is_urgent else later).append(item)
        if not urgent_only:
            state.digest.add(later)
        if not urgent:
            return
        self._flush_storm(state, now, force=False)
        window = load_window(state.window_file)
        if window.start is None or now >= window.start + self.config.rate_limit.window_seconds:
            window.start, window.sent = now, 0
        held: list[PendingAlert] = []
        for item in urgent:
            key = f"alert:{route.name}:{item.alert.id}"
            if self.outbox.has_key(key):
                continue
            if window.sent >= self.config.rate_limit.max_messages:
                held.append(item)
                continue
            if self._enqueue(self.renderer.alert(item), route, key, now):
                window.sent += 1
        state.storm.add(held)
        save_window(state.window_file, window)

    def _flush_storm(self, state: _RouteState, now: float, *, force: bool) -> None:
        files = state.storm.files()
        if not files:
            return
        window = load_window(state.window_file)
        start = window.start if window.start is not None else now
        if not force and now < start + self.config.rate_limit.window_seconds:
            return
        items = state.storm.load(files)
        mail = self.renderer.storm(state.route.name, items, start, now, window.sent)
        self._enqueue(mail, state.route, f"storm:{state.route.name}:{files[0].name}", now)
        state.storm.remove(files)
        log.warning("alert storm on route %s: %d alerts summarised in one mail", state.route.name, len(items))

    def _flush_digest(self, state: _RouteState, now: float, *, force: bool) -> None:
        oldest = state.digest.oldest()
        if oldest is None or (not force and now < oldest + state.route.digest_minutes * 60):
            return
        files = state.digest.files()
        # The same alert submitted again (it folded in more matches) is listed once, latest state.
        latest = {item.alert.id: item for item in state.digest.load(files)}
        items = list(latest.values())
        mail = self.renderer.digest(state.route.name, items, oldest, now)
        key = f"digest:{state.route.name}:" + ",".join(path.name for path in files)
        self._enqueue(mail, state.route, key, now)
        state.digest.remove(files)

    def _enqueue(self, mail: Mail, route: RouteConfig, key: str, now: float) -> bool:
        message = build_message(mail, sender=self.config.from_address, recipients=route.recipients, date=now)
        try:
            return self.outbox.enqueue(message, key) is not None
        except OSError as exc:
            raise NotifyStoreError(f"cannot write to the mail outbox {self.outbox.root}: {exc.strerror}") from exc


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Counts of what the outbox holds."""

    pending: int
    sent: int
    failed: int
    #: Alerts waiting for the digest, per route.
    digest: dict[str, int]
    #: Alerts held back by the rate limit, per route.
    storm: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return dataclasses.asdict(self)


def outbox_status(root: Path) -> OutboxStatus:
    """What waits in the outbox at ``root`` (nothing is created when it does not exist)."""
    if not root.is_dir():
        return OutboxStatus(0, 0, 0, {}, {})
    outbox = Outbox(root)
    digest: dict[str, int] = {}
    storm: dict[str, int] = {}
    routes = root / "routes"
    for directory in sorted(routes.iterdir()) if routes.is_dir() else []:
        for name, counts in (("digest", digest), ("storm", storm)):
            bucket = Bucket(directory / name)
            waiting = len(bucket.load(bucket.files()))
            if waiting:
                counts[directory.name] = waiting
    return OutboxStatus(len(outbox.pending()), len(outbox.sent()), len(outbox.failed()), digest, storm)


class NotifyStoreError(SiemError):
    """The outbox directory cannot be written (disk full, permissions)."""


def _matches(route: RouteConfig, alert: Alert) -> bool:
    if alert.severity_rank < LEVELS.index(route.min_severity):
        return False
    return not route.sites or alert.site in route.sites
