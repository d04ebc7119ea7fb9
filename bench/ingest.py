"""Ingest throughput: loghub lines through parse -> store, against merely reading the lines.

Usage: ``python bench/ingest.py [--lines 200000] [--format auto]``. The loghub samples
(``../shared/corpus/loghub/*/*.log``, or ``$SIEM_CORPUS``) are repeated into one temporary
file of about ``--lines`` lines; byte offsets make every line's event id unique. Prints lines/s
for reading the file, events/s for parsing alone, and events/s (and per CPU second, steadier on
a busy machine) for the whole pipeline
(file source -> queue -> parse -> SQLite store, and loopback TCP -> spool -> ... -> store),
with the ratios to reading.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.base import RawRecord  # noqa: E402
from collectors.registry import create_parser  # noqa: E402
from collectors.sources.contract import SourceOptions  # noqa: E402
from collectors.sources.file import FileSource  # noqa: E402
from collectors.sources.syslog import create_source as create_syslog_source  # noqa: E402
from siem import event as ecs  # noqa: E402
from siem.config import Config  # noqa: E402
from siem.pipeline import Pipeline  # noqa: E402
from siem.store.factory import open_store  # noqa: E402


def corpus_lines() -> list[bytes]:
    corpus = Path(os.environ.get("SIEM_CORPUS", ROOT.parent / "shared" / "corpus"))
    files = sorted((corpus / "loghub").glob("*/*.log"))
    if not files:
        sys.exit(f"no loghub logs under {corpus} (set SIEM_CORPUS)")
    return [line.rstrip(b"\r\n") + b"\n" for path in files for line in path.read_bytes().splitlines()]


def read_rate(log: Path) -> tuple[int, float]:
    """Lines and lines/s of merely reading the file."""
    started = time.perf_counter()
    with log.open("rb") as handle:
        count = sum(1 for _ in handle)
    return count, count / (time.perf_counter() - started)


def parse_rate(log: Path, fmt: str) -> tuple[int, float]:
    """Unknown events and events/s of the parser alone (no queue, no store)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    parse = create_parser(fmt)
    started = time.perf_counter()
    unknown = 0
    for offset, line in enumerate(lines):
        record = RawRecord(text=line, origin="file:///bench", received=started, key=str(offset))
        for event in parse.parse(record):
            unknown += event[ecs.DATASET] == ecs.UNKNOWN_DATASET
    return unknown, len(lines) / (time.perf_counter() - started)


def pipeline_rate(log: Path, fmt: str, data_dir: Path, *, tcp: bool) -> tuple[int, float, float]:
    """Events stored, events/s and events per CPU second (all threads; steadier than wall time on a
    busy machine) through the pipeline into a fresh SQLite store.

    ``tcp``: the lines are sent over loopback TCP to the syslog listener (spool on);
    otherwise the file source reads the file.
    """
    data_dir.mkdir()
    config = Config(data_dir=str(data_dir))
    store = open_store(config, data_dir)
    pipeline = Pipeline(store, create_parser, config=config.pipeline, spool_dir=data_dir / "spool")
    started, cpu_started = time.perf_counter(), time.process_time()
    pipeline.start()
    if tcp:
        source = create_syslog_source(SourceOptions(name="bench", transport="tcp", port=0, format=fmt))
        pipeline.add_source(source, spooled=True)
        payload = log.read_bytes()
        expected = payload.count(b"\n")
        with socket.create_connection(("127.0.0.1", source.port)) as sender:
            sender.sendall(payload)
        while pipeline.totals.events < expected and pipeline.failure is None:
            time.sleep(0.01)
    else:
        options = SourceOptions(name="bench", kind="file", paths=(str(log),), format=fmt, follow=False)
        pipeline.add_source(FileSource(options), spooled=False)
        while pipeline.sources_running():
            time.sleep(0.01)
    pipeline.stop()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store.close()
    return pipeline.totals.written, pipeline.totals.written / elapsed, pipeline.totals.written / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--format", default="auto")
    args = parser.parse_args()
    sample = corpus_lines()
    with tempfile.TemporaryDirectory() as temp:
        log = Path(temp) / "bench.log"
        with log.open("wb") as out:
            for index in range(args.lines):
                out.write(sample[index % len(sample)])
        size_mb = log.stat().st_size / 1e6
        count, reading = read_rate(log)
        unknown, parsing = parse_rate(log, args.format)
        stored, from_file, file_cpu = pipeline_rate(log, args.format, Path(temp) / "file-data", tcp=False)
        stored_tcp, from_tcp, tcp_cpu = pipeline_rate(log, args.format, Path(temp) / "tcp-data", tcp=True)
    print(f"input: {count:,} lines ({size_mb:.1f} MB) from loghub, format {args.format}; {unknown:,} 'unknown'")
    print(f"{'read lines only':44s}: {reading:10,.0f} lines/s")
    for label, rate, per_cpu in (
        ("parse only", parsing, None),
        (f"file -> parse -> store ({stored:,})", from_file, file_cpu),
        (f"tcp -> spool -> parse -> store ({stored_tcp:,})", from_tcp, tcp_cpu),
    ):
        cpu_text = "" if per_cpu is None else f", {per_cpu:,.0f} per CPU second"
        print(f"{label:44s}: {rate:10,.0f} events/s  ({reading / rate:6.1f}x the time of reading){cpu_text}")


if __name__ == "__main__":
    main()
