"""Correlation state: memory held by hits, and the size and cost of the durable state.

Usage: ``.venv/bin/python bench/correlation.py [--events 50000] [--sources 20000] [--spacing 0.01]``

Parses ``--events`` sshd failed logins (syslog, zone ``camera``, like ``siem run`` does) from
``--sources`` attacking addresses, one every ``--spacing`` seconds of event time, and feeds them through the
Detector with our rules (the camera brute-force correlation counts them per source). Most
sources never reach five failures in five minutes, so their hits stay held. Prints the hits
held, the Python heap the correlation state holds (tracemalloc: what is still allocated
once the parsed events are dropped), and, where the engine has durable state, the whole
serialized state's size and the time to save and load it, then what one more batch of 100
events writes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.base import RawRecord  # noqa: E402
from collectors.registry import create_parser  # noqa: E402
from siem.detect.engine import Detector  # noqa: E402
from siem.detect.loader import load_rules  # noqa: E402

BASE = 1_795_000_000.0


def events(count: int, sources: int, spacing: float = 0.01) -> list[dict[str, object]]:
    """Parsed and labelled failed logins, as the pipeline hands them to the detector."""
    parser = create_parser("auto")
    out: list[dict[str, object]] = []
    for n in range(count):
        moment = BASE + n * spacing
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(moment))
        ip = f"10.{n % sources // 65536}.{n % sources // 256 % 256}.{n % sources % 256}"
        text = (f"<38>{stamp} cam-w3-{n % 50:03d} sshd[{1000 + n}]: Failed password for admin from {ip}"
                f" port {n % 60000} ssh2")
        record = RawRecord(text=text, origin="tcp://127.0.0.1:5514", received=moment, key=str(n))
        for event in parser.parse(record):
            event["labels.zone"] = "camera"
            event["labels.site"] = "ward-3"
            out.append(dict(event))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--sources", type=int, default=20_000)
    parser.add_argument("--spacing", type=float, default=0.01, help="seconds of event time between events")
    args = parser.parse_args()
    ruleset = load_rules([ROOT / "rules"])
    detector = Detector(ruleset)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    batch = events(args.events, args.sources, args.spacing)
    print(f"{len(batch):,} events parsed, {len(batch[0])} fields each")
    for start in range(0, len(batch), 1000):
        detector.detect(batch[start : start + 1000])
    engine = detector.correlation
    del batch
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"hits held {engine.hit_count:,} in {engine.group_count:,} groups;"
          f" correlation state on the heap {held / 1e6:.1f} MB ({held / max(engine.hit_count, 1):.0f} B/hit)")
    if not hasattr(detector, "state_changes"):
        print("no durable state in this version")
        return
    began = time.perf_counter()
    saved = detector.state_changes()
    took = time.perf_counter() - began
    size = sum(len(value) for value in saved.values())
    fresh = Detector(ruleset)
    began = time.perf_counter()
    fresh.restore_state(saved.get)
    loaded = time.perf_counter() - began
    print(f"whole state {size / 1e6:.2f} MB in {len(saved)} checkpoints ({size / max(engine.hit_count, 1):.0f} B/hit);"
          f" save {took * 1000:.0f} ms, load {loaded * 1000:.0f} ms; restored {fresh.correlation.hit_count:,} hits")
    # one more batch of 100 events, as the pipeline commits it: only the shards it touched
    more = events(args.events + 100, args.sources, args.spacing)[-100:]
    detector.detect(more)
    began = time.perf_counter()
    step = detector.state_changes()
    took = time.perf_counter() - began
    print(f"after a batch of 100 events: {len(step)} checkpoints, {sum(map(len, step.values())) / 1e3:.0f} kB,"
          f" {took * 1000:.1f} ms")

if __name__ == "__main__":
    main()
