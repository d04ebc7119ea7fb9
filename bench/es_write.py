"""Figure: events/s of ElasticsearchStore.write() for batches of realistic syslog events, and
the cost of integrity seals on it.

Same events as bench/store_write.py (loghub Linux lines). Against osmem-server (started here,
an in-memory emulator: the figure measures the client side, bulk encoding and our batching,
not a real cluster) unless ``--url`` names a real cluster. ``--seals both`` writes the events
into fresh stores with sealing off and on, alternating (``--rounds`` each), in one run, prints
the ratio, then times ``siem verify`` over the sealed store. Usage::

    .venv/bin/python bench/es_write.py [--events 50000] [--batch 1000] [--bulk-docs 500]
        [--in-flight 2] [--refresh wait_for] [--seals on|off|both] [--rounds 2]
        [--url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_write import make_events, sample_lines

from siem.integrity.verify import verify
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.store import ElasticsearchStore


def write_run(config: ElasticsearchConfig, events: list[Any], batch: int, replay: bool) -> dict[str, Any]:
    """Write ``events`` into a fresh store (and replay them); wall and CPU seconds, the store."""
    store = ElasticsearchStore(config)
    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, len(events), batch):
        store.write(events[offset : offset + batch], checkpoints={"bench": str(offset)})
    outcome: dict[str, Any] = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu_started,
                               "store": store, "replayed": 0, "replay": 0.0}
    if replay:
        started = time.perf_counter()
        for offset in range(0, len(events), batch):
            outcome["replayed"] += store.write(events[offset : offset + batch]).duplicates
        outcome["replay"] = time.perf_counter() - started
    return outcome


def main() -> None:
    """Write the events, replay them, and print events/s for both (per sealing mode)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--bulk-docs", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--refresh", default="wait_for", choices=("wait_for", "true", "false"))
    parser.add_argument("--seals", default="on", choices=("on", "off", "both"))
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode with --seals both")
    parser.add_argument("--url", help="a real cluster instead of osmem-server")
    args = parser.parse_args()
    server = None
    if args.url:
        hosts, compatibility = (args.url,), "8"
    else:
        from osmem_server import OsmemServer

        server = OsmemServer.start(japanese=False)
        hosts, compatibility = (server.url,), "none"
    base = ElasticsearchConfig(
        hosts=hosts, compatibility=compatibility, index_prefix=f"bench{int(time.time())}",
        bulk_docs=args.bulk_docs, max_in_flight=args.in_flight, refresh=args.refresh,
    )
    events = make_events(sample_lines(), args.events, time.time() - 86400)
    modes = [args.seals == "on"] if args.seals != "both" else [False, True] * args.rounds
    where = args.url or "osmem-server 0.1.6 (emulator)"
    best: dict[bool, float] = {}
    cpu: dict[bool, float] = {}
    try:
        for run, sealing in enumerate(modes):
            config = dataclasses.replace(base, seals=sealing, index_prefix=f"{base.index_prefix}-{run}")
            outcome = write_run(config, events, args.batch, replay=args.seals != "both")
            store: ElasticsearchStore = outcome["store"]
            try:
                rate = len(events) / outcome["wall"]
                best[sealing] = max(best.get(sealing, 0.0), rate)
                cpu[sealing] = max(cpu.get(sealing, 0.0), len(events) / outcome["cpu"])
                print(f"write (seals {'on' if sealing else 'off'}): {len(events):,} events, batches of"
                      f" {args.batch}, bulk {args.bulk_docs} x {args.in_flight} in flight, refresh={args.refresh},"
                      f" on {where}: {rate:,.0f} events/s wall,"
                      f" {len(events) / outcome['cpu']:,.0f} per CPU second of this (client) process")
                if outcome["replay"]:
                    print(f"replay ({outcome['replayed']:,} duplicates): {len(events) / outcome['replay']:,.0f}"
                          " events/s")
                if sealing and run == len(modes) - 1:
                    started = time.perf_counter()
                    result = verify(store)
                    took = time.perf_counter() - started
                    print(f"verify: {'ok' if result.ok else 'BROKEN'}, {result.seals} seals,"
                          f" {result.events_checked:,} events in {took:.2f} s"
                          f" ({result.events_checked / took:,.0f} events/s)")
                stats = store.stats()
                print(f"stored: {stats.events:,} events, {stats.size_bytes / 1e6:.1f} MB reported")
            finally:
                store.close()
    finally:
        if server is not None:
            server.close()
    if len(best) == 2:
        print(f"sealing cost (best of {args.rounds} each): {best[True]:,.0f} vs {best[False]:,.0f} events/s wall"
              f" = {best[True] / best[False]:.2f}x; client CPU {cpu[True]:,.0f} vs {cpu[False]:,.0f} events per"
              f" CPU second = {cpu[True] / cpu[False]:.2f}x")


if __name__ == "__main__":
    main()
