"""Ingest throughput: loghub lines through parse -> store, against merely reading the lines.

Usage: ``python bench/ingest.py [--lines 200000] [--format auto] [--workers 0,1,2 [--rules rules]]``. The loghub samples
(``../shared/corpus/loghub/*/*.log``, or ``$SIEM_CORPUS``) are repeated into one temporary
file of about ``--lines`` lines; byte offsets make every line's event id unique. Prints lines/s
for reading the file, events/s for parsing alone, and events/s (and per CPU second, steadier on
a busy machine) for the whole pipeline
(file source -> queue -> parse -> SQLite store, and loopback TCP -> spool -> ... -> store),
with the ratios to reading.

``--workers 0,1,2``: instead, the file and TCP runs through the pipeline ``siem ingest`` builds
(asset labels, the Sigma rules of ``--rules``, the alert stage) once per ``pipeline.workers``
value, printing events/s (and the ratio to the first value), the CPU µs per event of the main
process + of the workers (their start-up included), and of each pipeline thread of the main process.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import threading
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
from siem.app import App  # noqa: E402
from siem.commands.run import make_pipeline  # noqa: E402
from siem.config import Config, DetectionConfig, PipelineConfig  # noqa: E402
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
    feed(pipeline, log, fmt, tcp=tcp)
    pipeline.stop()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store.close()
    return pipeline.totals.written, pipeline.totals.written / elapsed, pipeline.totals.written / cpu


def feed(pipeline: Pipeline, log: Path, fmt: str, *, tcp: bool) -> None:
    """Start ``pipeline`` and feed it ``log`` over one TCP connection (spooled) or as a file,
    returning once every line has been processed (TCP) or read (file)."""
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


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each running thread of this process, by thread name (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    found = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[names.get(int(task.name), task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def workers_rate(
    log: Path, fmt: str, data_dir: Path, *, workers: int, rules: str, tcp: bool
) -> tuple[int, float, float, float, dict[str, float]]:
    """Events stored, events/s, CPU µs per event in the main process and in the workers, and
    per pipeline thread, through the ``siem ingest`` wiring with ``pipeline.workers: workers``."""
    data_dir.mkdir()
    config = Config(data_dir=str(data_dir), pipeline=PipelineConfig(workers=workers),
                    detection=DetectionConfig(rules=(rules,)))
    app = App(config=config)
    pipeline = make_pipeline(app, spool=tcp)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu_started = time.perf_counter(), time.process_time()
    feed(pipeline, log, fmt, tcp=tcp)
    pipeline.wait_idle()
    threads = {name: cpu for name, cpu in thread_cpu().items() if name.startswith("pipeline-")}
    pipeline.stop()  # joins the workers: their CPU time is then in RUSAGE_CHILDREN
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    written = pipeline.totals.written
    app.close()
    per_thread = {name.removeprefix("pipeline-"): cpu / written * 1e6 for name, cpu in threads.items()}
    return written, written / elapsed, cpu / written * 1e6, child_cpu / written * 1e6, per_thread


def print_workers(log: Path, fmt: str, temp: Path, counts: list[int], rules: str) -> None:
    """One line per transport and worker count (one run: compare the lines with each other)."""
    print(f"with detection ({rules}), the siem ingest pipeline; CPU in µs per event (main + workers):")
    for tcp in (False, True):
        base = None
        for workers in counts:
            name = f"{'tcp' if tcp else 'file'}-w{workers}"
            stored, rate, main_us, child_us, per_thread = workers_rate(
                log, fmt, temp / name, workers=workers, rules=rules, tcp=tcp
            )
            base = base or rate
            label = f"{'tcp -> spool' if tcp else 'file'} -> ... -> store, workers {workers} ({stored:,})"
            threads = ", ".join(f"{thread} {us:.1f}" for thread, us in sorted(per_thread.items()))
            print(f"{label:48s}: {rate:8,.0f} events/s ({rate / base:4.2f}x)  CPU {main_us:5.1f} + {child_us:5.1f}"
                  f"  ({threads})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--workers", default="", help="pipeline.workers values to compare, e.g. 0,1,2")
    parser.add_argument("--rules", default=str(ROOT / "rules"), help="Sigma rules for the --workers runs")
    args = parser.parse_args()
    sample = corpus_lines()
    with tempfile.TemporaryDirectory() as temp:
        log = Path(temp) / "bench.log"
        with log.open("wb") as out:
            for index in range(args.lines):
                out.write(sample[index % len(sample)])
        if args.workers:
            print_workers(log, args.format, Path(temp), [int(n) for n in args.workers.split(",")], args.rules)
            return
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
