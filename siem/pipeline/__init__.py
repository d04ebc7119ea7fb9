"""The ingest pipeline: bounded queues, the stage runner, the spool, per-source counters."""

from siem.pipeline.runner import Pipeline, Totals

__all__ = ["Pipeline", "Totals"]
