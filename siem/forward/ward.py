"""``siem run --role forwarder``: a ward's sources, parsed and enriched here, sent to the centre.

The same pipeline as the server (sources, spool, parse, normalize, enrich) with two changes:
its sink is the disk buffer (``BufferSink``) instead of the store, and there is no detection
(the centre detects, so alerts, incidents and e-mail are central and see every ward). The
local store keeps only the sources' checkpoints and counters (``siem status`` on the ward).
"""

from __future__ import annotations

import logging
import threading
from typing import cast

import click

from siem.app import App
from siem.forward.monitor import BufferMonitor
from siem.forward.outbox import BufferFullError, Outbox
from siem.forward.sender import Sender, client_context
from siem.forward.sink import BufferSink
from siem.forward.status import DIRECTORY
from siem.pipeline import Pipeline
from siem.pipeline.sources import is_network, source_labels, source_options
from siem.pipeline.stages import ConfiguredStages
from siem.store.base import Store

log = logging.getLogger(__name__)

_TICK_SECONDS = 0.5


def serve_forwarder(app: App, *, stop: threading.Event) -> Pipeline:
    """Run the ward's sources into the buffer and the buffer to the centre until ``stop``."""
    config = app.config
    settings = config.forwarder
    context = client_context(settings)
    outbox = Outbox(app.data_path / DIRECTORY, max_bytes=settings.buffer_max_bytes, fsync=config.pipeline.fsync)
    sink = BufferSink(app.store, outbox)
    sources = [(source, app.create_source(source_options(source))) for source in config.sources]
    # The pipeline uses only write, checkpoint, write_alerts and the source counters of its store.
    pipeline = Pipeline(
        cast(Store, sink),
        app.create_parser,
        config=config.pipeline,
        spool_dir=app.data_path / "spool",
        labels=source_labels(config),
        enrichers=app.enrichers(),
        # one batch per buffer append, so the buffer's bound holds to within one batch
        group_commit=False,
        worker_setup=ConfiguredStages(config, detect=False),
    )
    sender = Sender(settings, outbox, context, name=config.site)
    monitor = BufferMonitor(outbox, sink, sender.state, alarm_percent=settings.alarm_percent)
    sender.start()  # first: replaying the spool into a full buffer needs the sender to make room
    try:
        pipeline.start()
        for source_config, source in sources:
            pipeline.add_source(source, spooled=is_network(source_config))
        click.echo(f"forwarding to {sender.state.central} (buffer {settings.buffer_max_mb:g} MB)", err=True)
        urls = ", ".join(str(getattr(source, "url", source.name)) for _, source in sources)
        click.echo(f"listening on {urls}" if urls else "no sources configured", err=True)
        monitor.tick()
        while not stop.wait(_TICK_SECONDS) and pipeline.failure is None:
            monitor.tick()
            if sink.full:  # the pipeline's writer is waiting, so it does not save the counters
                sink.record_source_stats(pipeline.counters.snapshot())
    finally:
        sink.closing()
        try:
            pipeline.stop()
        except BufferFullError as exc:
            log.warning("%s: what was not buffered stays in the spool and is buffered at the next start", exc)
        finally:
            sender.stop()
            outbox.close()
            monitor.save()
    return pipeline
