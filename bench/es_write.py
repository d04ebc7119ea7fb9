"""Figure: events/s of ElasticsearchStore.write() for batches of realistic syslog events.

Same events as bench/store_write.py (loghub Linux lines). Against osmem-server (started here,
an in-memory emulator: the figure measures the client side, bulk encoding and our batching,
not a real cluster) unless ``--url`` names a real cluster. Usage::

    .venv/bin/python bench/es_write.py [--events 50000] [--batch 1000] [--bulk-docs 500]
        [--in-flight 2] [--refresh wait_for] [--url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_write import make_events, sample_lines

from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.store import ElasticsearchStore


def main() -> None:
    """Write the events, replay them, and print events/s for both."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--bulk-docs", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--refresh", default="wait_for", choices=("wait_for", "true", "false"))
    parser.add_argument("--url", help="a real cluster instead of osmem-server")
    args = parser.parse_args()
    server = None
    if args.url:
        hosts, compatibility = (args.url,), "8"
    else:
        from osmem_server import OsmemServer

        server = OsmemServer.start(japanese=False)
        hosts, compatibility = (server.url,), "none"
    config = ElasticsearchConfig(
        hosts=hosts, compatibility=compatibility, index_prefix=f"bench{int(time.time())}",
        bulk_docs=args.bulk_docs, max_in_flight=args.in_flight, refresh=args.refresh,
    )
    events = make_events(sample_lines(), args.events, time.time() - 86400)
    store = ElasticsearchStore(config)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for offset in range(0, len(events), args.batch):
            store.write(events[offset : offset + args.batch],
                        checkpoints={"bench": str(offset)})
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        started = time.perf_counter()
        replayed = 0
        for offset in range(0, len(events), args.batch):
            replayed += store.write(events[offset : offset + args.batch]).duplicates
        replay = time.perf_counter() - started
        stats = store.stats()
    finally:
        store.close()
        if server is not None:
            server.close()
    where = args.url or "osmem-server 0.1.6 (emulator)"
    print(f"write: {len(events):,} events, batches of {args.batch}, bulk {args.bulk_docs} x"
          f" {args.in_flight} in flight, refresh={args.refresh}, on {where}:"
          f" {len(events) / elapsed:,.0f} events/s wall,"
          f" {len(events) / cpu:,.0f} per CPU second of this (client) process")
    print(f"replay ({replayed:,} duplicates): {len(events) / replay:,.0f} events/s")
    print(f"stored: {stats.events:,} events, {stats.size_bytes / 1e6:.1f} MB reported")


if __name__ == "__main__":
    main()
