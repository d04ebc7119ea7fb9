"""``siem capture``: live packet capture through the same pipeline as ``siem run``.

Captures on one interface (optionally with a BPF filter) into flow and application metadata
events, which are enriched, run through detection and stored like every other event. Stops on
Ctrl-C or SIGTERM, after ``--duration`` seconds or ``--count`` packets; open flows are then
flushed and stored. Prints ``capturing on capture://IF`` on stderr once the socket is open,
and the counts on stdout at the end (``--json`` for a machine-readable summary).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from types import FrameType

import click

from collectors.sources.capture import CaptureSource
from collectors.sources.contract import SourceOptions
from siem.app import App, AppOptions
from siem.commands.run import mail_delivery, make_pipeline
from siem.i18n import _
from siem.pipeline import Pipeline

SOURCE_PREFIX = "capture:"
_REFRESH_SECONDS = 0.2


def capture(app: App, options: SourceOptions, *, duration: float | None, stop: threading.Event) -> dict[str, int]:
    """Capture into the store until ``stop``, ``duration`` or the packet limit; returns counts."""
    source = CaptureSource(options)
    source.open()  # no privilege, no interface or a bad filter fails here, before any work
    pipeline = make_pipeline(app, spool=False)
    with mail_delivery(app):
        pipeline.start()
        pipeline.add_source(source, spooled=False)
        click.echo(f"capturing on {source.url}", err=True)  # stays English: scripts wait for it
        sys.stderr.flush()
        try:
            _wait(pipeline, stop, duration)
        finally:
            pipeline.stop()
    totals = pipeline.totals
    return {
        "packets": source.stats.packets,
        "bytes": source.stats.bytes,
        "flows": source.stats.flows,
        "kernel_drops": source.kernel_drops,
        "events": totals.events,
        "stored": totals.written,
        "duplicates": totals.duplicates,
        "alerts": totals.alerts,
    }


def _wait(pipeline: Pipeline, stop: threading.Event, duration: float | None) -> None:
    deadline = time.monotonic() + duration if duration is not None else None
    while not stop.wait(_REFRESH_SECONDS):
        if pipeline.failure is not None or not pipeline.sources_running():
            return
        if deadline is not None and time.monotonic() >= deadline:
            return


@click.command("capture")
@click.option("--interface", "-i", required=True, help="Network interface to capture on (eth0, lo).")
@click.option("--bpf", default="", help="Capture filter in tcpdump syntax, e.g. 'not port 22'.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many packets.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def capture_command(
    options: AppOptions, interface: str, bpf: str, duration: float | None, count: int | None, as_json: bool
) -> None:
    """Capture packets live into flow and metadata events (needs root or CAP_NET_RAW)."""
    app = App.from_options(options)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    source = SourceOptions(
        name=SOURCE_PREFIX + interface, kind="capture", interface=interface, bpf=bpf, packet_limit=count or 0
    )
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        counts = capture(app, source, duration=duration, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(_("packets: {packets}  flows: {flows}  events: {events}  stored: {stored}  "
                     "kernel drops: {drops}  alerts: {alerts}").format(
            packets=f"{counts['packets']:,}", flows=f"{counts['flows']:,}", events=f"{counts['events']:,}",
            stored=f"{counts['stored']:,}", drops=f"{counts['kernel_drops']:,}", alerts=f"{counts['alerts']:,}"))
