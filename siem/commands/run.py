"""``siem run``: start the configured sources and the pipeline until Ctrl-C or SIGTERM.

Prints ``listening on udp://..., tcp://...`` on stderr once every source is up (tests and
service managers wait for it), a live status line on stderr when it is a terminal, applies
the store's retention limits every ``store.retention.interval_seconds``, and stops cleanly:
sources stop, queued records are processed and committed, counters are saved.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import click

from siem.app import App, AppOptions
from siem.errors import StoreError
from siem.i18n import _
from siem.pipeline import Pipeline
from siem.pipeline.sources import is_network, source_labels, source_options

if TYPE_CHECKING:
    from siem.schedule.runner import Scheduler

_REFRESH_SECONDS = 0.5

log = logging.getLogger(__name__)


def _status_text(pipeline: Pipeline, rate: float) -> str:
    totals = pipeline.totals
    return _("{rate} events/s  stored {stored}  queue {queue}  dropped {dropped}  alerts {alerts}").format(
        rate=f"{rate:,.0f}", stored=f"{totals.written:,}", queue=f"{len(pipeline.queue):,}",
        dropped=f"{pipeline.counters.total_dropped():,}", alerts=f"{totals.alerts:,}",
    )


def make_pipeline(app: App, *, spool: bool) -> Pipeline:
    """The pipeline of ``siem run`` and ``siem ingest`` (the one place stages are wired)."""
    from siem.alerts.detection import AlertingDetector
    from siem.pipeline.stages import ConfiguredStages

    config = app.config
    detector = app.load_detector()
    return Pipeline(
        app.store,
        app.create_parser,
        config=config.pipeline,
        spool_dir=app.data_path / "spool" if spool else None,
        labels=source_labels(config),
        enrichers=app.enrichers(),
        detector=AlertingDetector(detector) if detector is not None else None,
        alert_sink=app.alert_stage(),
        worker_setup=ConfiguredStages(config),
    )


@contextmanager
def mail_delivery(app: App) -> Iterator[None]:
    """Deliver e-mail in the background while the block runs (when e-mail is enabled)."""
    from siem.alerts.stage import MailPump

    pump = MailPump(app.email) if app.email is not None else None
    if pump is not None:
        pump.start()
    try:
        yield
    finally:
        if pump is not None:
            pump.stop()


def serve(app: App, *, status_line: bool, stop: threading.Event) -> Pipeline:
    """Run sources into the store until ``stop`` is set; returns the stopped pipeline."""
    config = app.config
    sources = [(source, app.create_source(source_options(source))) for source in config.sources]
    pipeline = make_pipeline(app, spool=True)
    click.echo(_("detection: {rules}").format(rules=_rules_text(pipeline)), err=True)
    pipeline.start()
    for source_config, source in sources:
        pipeline.add_source(source, spooled=is_network(source_config))
    urls = ", ".join(str(getattr(source, "url", source.name)) for _config, source in sources)
    # "listening on" stays English whatever the language: tests and service managers wait for it.
    click.echo(f"listening on {urls}" if urls else _("no sources configured"), err=True)
    sys.stderr.flush()
    scheduler = _start_schedule(app)
    try:
        _wait(app, pipeline, stop, status_line)
    finally:
        if scheduler is not None:
            scheduler.stop()
        pipeline.stop()
    return pipeline


def _start_schedule(app: App) -> Scheduler | None:
    """The scheduler of the configured jobs (siem/schedule), started; None without jobs."""
    if not app.config.schedule:
        return None
    from siem.schedule.runner import Scheduler, siem_command

    command = siem_command(app.config.source_file, app.data_path, app.config.language)
    scheduler = Scheduler(app.config.schedule, app.data_path, command)
    scheduler.start()
    click.echo(_("schedule: {next}").format(next=scheduler.describe_next()), err=True)
    return scheduler


def _rules_text(pipeline: Pipeline) -> str:
    detector = getattr(pipeline.detector, "detector", None)
    return _("{count} rules").format(count=detector.rule_count) if detector is not None else _("no rules loaded")


class _Retention:
    """Applies the store's retention limits every ``interval_seconds`` while serving."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.config = app.config.store.retention
        self.enabled = self.config.max_age_days > 0 or self.config.max_size_mb > 0
        self.due = time.monotonic()

    def tick(self) -> None:
        """Run retention if it is due (the first time right after start-up)."""
        if not self.enabled or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.config.interval_seconds
        try:
            deleted = self.app.store.apply_retention(
                max_age_days=self.config.max_age_days, max_size_mb=self.config.max_size_mb, now=time.time()
            )
        except StoreError as exc:
            log.warning("retention failed: %s", exc)
            return
        if deleted:
            log.info("retention deleted %d events", deleted)


def _wait(app: App, pipeline: Pipeline, stop: threading.Event, status_line: bool) -> None:
    retention = _Retention(app)
    if not status_line:
        while not stop.wait(_REFRESH_SECONDS) and pipeline.failure is None:
            retention.tick()
        return
    from rich.live import Live

    last_events, last_time = 0, time.monotonic()
    with Live("", console=app.err_console, transient=True, auto_refresh=False) as live:
        while not stop.wait(_REFRESH_SECONDS) and pipeline.failure is None:
            now = time.monotonic()
            events = pipeline.totals.events
            rate = (events - last_events) / max(now - last_time, 1e-6)
            last_events, last_time = events, now
            live.update(_status_text(pipeline, rate), refresh=True)
            retention.tick()


@click.command("run")
@click.option("--no-status-line", is_flag=True, help="Do not show the live status line.")
@click.option(
    "--role",
    type=click.Choice(["server", "forwarder"]),
    help="server: store, detect, alert; forwarder: a ward that buffers and sends to the centre (default: config).",
)
@click.pass_obj
def run_command(options: AppOptions, no_status_line: bool, role: str | None) -> None:
    """Start collectors, detection and alerting (the main job)."""
    app = App.from_options(options)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if (role or app.config.role) == "forwarder":
            from siem.forward.ward import serve_forwarder

            pipeline = serve_forwarder(app, stop=stop)
        else:
            with mail_delivery(app):
                pipeline = serve(app, status_line=app.interactive and not no_status_line, stop=stop)
        totals = pipeline.totals
        click.echo(_("stopped: {records} records, {stored} events stored, {duplicates} duplicates, "
                     "{failures} parse failures").format(
            records=f"{totals.records:,}", stored=f"{totals.written:,}", duplicates=f"{totals.duplicates:,}",
            failures=f"{totals.parse_failures:,}"), err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()
