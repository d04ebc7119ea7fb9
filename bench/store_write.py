"""Figure: events/s of SqliteStore.write() for batches of 1000 realistic syslog events.

Events are built from the loghub Linux syslog sample in the shared corpus (real lines,
given fresh ids and times), shaped as the syslog parser shapes them. Usage::

    .venv/bin/python bench/store_write.py [--events 200000] [--batch 1000] [--fsync] [--busy-thread]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from siem import event as ecs
from siem.store.sqlite import SqliteStore

CORPUS = Path(os.environ.get("SIEM_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
LINE = re.compile(r"^(\w{3} +\d+ [\d:]+) (\S+) ([^\[:]+)(?:\[(\d+)\])?: (.*)$")
RHOST = re.compile(r"rhost=(\S+)")
USER = re.compile(r"user[= ](\w+)")


def sample_lines() -> list[str]:
    """The loghub Linux lines, or a few typical sshd lines when the corpus is absent."""
    path = CORPUS / "loghub" / "Linux" / "Linux_2k.log"
    if path.is_file():
        return [line for line in path.read_text(errors="replace").splitlines() if line]
    print(f"corpus not found at {path}; using built-in lines", file=sys.stderr)
    return [
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0"
        " euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
        "Jun 15 04:06:18 combo su(pam_unix)[21416]: session opened for user cyrus by (uid=0)",
    ]


def make_events(lines: list[str], count: int, start: float) -> list[ecs.Event]:
    """``count`` flat events cycling over ``lines``, one millisecond apart."""
    events: list[ecs.Event] = []
    for index in range(count):
        line = lines[index % len(lines)]
        moment = start + index / 1000
        event: ecs.Event = {
            ecs.TIMESTAMP: ecs.format_timestamp(moment),
            ecs.ID: ecs.make_event_id(line, str(index)),
            ecs.KIND: "event",
            ecs.DATASET: "syslog",
            ecs.ORIGINAL: f"<38>{line}",
            ecs.LOG_SYSLOG_PRIORITY: 38,
            ecs.INPUT: "udp://10.1.2.3",
            ecs.OBSERVER_IP: "10.1.2.3",
            ecs.LABEL_SITE: f"ward-{index % 7}",
            ecs.LABEL_ZONE: "server",
            ecs.INGESTED: ecs.format_timestamp(moment),
        }
        match = LINE.match(line)
        if match:
            event[ecs.HOST_NAME] = match.group(2)
            event[ecs.PROCESS_NAME] = match.group(3)
            if match.group(4):
                event[ecs.PROCESS_PID] = int(match.group(4))
            event[ecs.MESSAGE] = match.group(5)
        rhost = RHOST.search(line)
        if rhost:
            event[ecs.SOURCE_IP] = rhost.group(1)
        user = USER.search(line)
        if user:
            event[ecs.USER_NAME] = user.group(1)
        events.append(event)
    return events


def main() -> None:
    """Write the events in batches and print events/s and the file size per event."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fsync", action="store_true", help="synchronous=FULL")
    parser.add_argument("--busy-thread", action="store_true",
                        help="a CPU-bound Python thread runs beside the writer, as the pipeline's processor does")
    args = parser.parse_args()
    events = make_events(sample_lines(), args.events, time.time() - 86400)
    segment = max(args.events // 4, args.batch)
    stop = threading.Event()
    spins = [0]

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))
            spins[0] += 1

    spinner = threading.Thread(target=busy, daemon=True)
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db", fsync=args.fsync)
        if args.busy_thread:
            spinner.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        mark, cpu_mark = started, cpu_started
        for offset in range(0, len(events), args.batch):
            batch = events[offset : offset + args.batch]
            store.write(batch, checkpoints={"bench": str(offset)})
            done = offset + len(batch)
            if done % segment == 0:
                now, cpu_now = time.perf_counter(), time.process_time()
                print(f"  events {done - segment:>9,}-{done:<9,}: {segment / (now - mark):>9,.0f}"
                      f" events/s wall, {segment / (cpu_now - cpu_mark):>9,.0f} per CPU second")
                mark, cpu_mark = now, cpu_now
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stop.set()
        replay_count = min(len(events), 50_000)
        replay_started = time.perf_counter()
        for offset in range(0, replay_count, args.batch):
            store.write(events[offset : offset + args.batch])
        replay_elapsed = time.perf_counter() - replay_started
        stats = store.stats()
        store.close()
    print(f"write: {len(events):,} events in batches of {args.batch}: {elapsed:.2f} s, "
          f"{len(events) / elapsed:,.0f} events/s wall, {len(events) / cpu:,.0f} per CPU second "
          f"(fsync={args.fsync})")
    if args.busy_thread:
        print(f"busy thread beside the writer: {spins[0] / elapsed:,.0f} loops/s")
    print(f"replay of {replay_count:,} (all duplicates): {replay_count / replay_elapsed:,.0f} events/s")
    print(f"store size: {stats.size_bytes / 1e6:.1f} MB, "
          f"{stats.size_bytes / max(stats.events, 1):.0f} bytes/event")


if __name__ == "__main__":
    main()
