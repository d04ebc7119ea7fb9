"""What crossing the worker-process boundary costs (``pipeline.workers``), against parsing.

Usage: ``python bench/worker_boundary.py [--lines 10000]``. Parses loghub lines (the shared
corpus, or ``$SIEM_CORPUS``) with the auto parser, then times (best of 3, µs per event or
record) the ways a batch can travel: events as pickle or as orjson (dumps in the worker, loads
in the main process, which is what limits the main process), records as pickled dataclasses or
as tuples of their fields (what ``siem/pipeline/workers.py`` sends), and ``event_row`` (the
writer's JSON encoding, which ready rows from the workers would move out of the main process).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.base import RawRecord  # noqa: E402
from collectors.registry import create_parser  # noqa: E402
from siem.pipeline.workers import _record_fields  # noqa: E402
from siem.store.sqlite.rows import event_row  # noqa: E402


def interleaved(actions: dict[str, Callable[[], Any]], rounds: int = 5) -> dict[str, float]:
    """The shortest time (seconds) of each action over ``rounds`` rounds that run every action
    once in turn, so a busy machine's slow moments hit all of them alike."""
    shortest = dict.fromkeys(actions, float("inf"))
    for _ in range(rounds):
        for label, action in actions.items():
            started = time.perf_counter()
            action()
            shortest[label] = min(shortest[label], time.perf_counter() - started)
    return shortest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    corpus = Path(os.environ.get("SIEM_CORPUS", ROOT.parent / "shared" / "corpus"))
    paths = sorted((corpus / "loghub").glob("*/*.log"))
    if not paths:
        sys.exit(f"no loghub logs under {corpus} (set SIEM_CORPUS)")
    lines = [line for path in paths for line in path.read_text(errors="replace").splitlines()][: args.lines]
    records = [RawRecord(text=line, origin="tcp://127.0.0.1:5514", received=1.7e9, key=str(n),
                         checkpoint=("spool", str(n)), source="bench") for n, line in enumerate(lines)]
    parse = create_parser("auto")
    started = time.perf_counter()
    events = [event for record in records for event in parse.parse(record)]
    parsing = time.perf_counter() - started
    fields = [_record_fields(record) for record in records]
    blobs = {
        "events, pickle": pickle.dumps(events, pickle.HIGHEST_PROTOCOL),
        "events, orjson": orjson.dumps(events),
        "records, pickled dataclasses": pickle.dumps(records, pickle.HIGHEST_PROTOCOL),
        "records, tuples of fields (as sent)": pickle.dumps(fields, pickle.HIGHEST_PROTOCOL),
    }
    dumps = interleaved({
        "events, pickle": lambda: pickle.dumps(events, pickle.HIGHEST_PROTOCOL),
        "events, orjson": lambda: orjson.dumps(events),
        "records, pickled dataclasses": lambda: pickle.dumps(records, pickle.HIGHEST_PROTOCOL),
        "records, tuples of fields (as sent)":
            lambda: pickle.dumps([_record_fields(r) for r in records], pickle.HIGHEST_PROTOCOL),
        "event_row (writer, JSON doc)": lambda: [event_row(event, 0) for event in events],
    })
    loads = interleaved({
        "events, pickle": lambda: pickle.loads(blobs["events, pickle"]),
        "events, orjson": lambda: orjson.loads(blobs["events, orjson"]),
        "records, pickled dataclasses": lambda: pickle.loads(blobs["records, pickled dataclasses"]),
        "records, tuples of fields (as sent)":
            lambda: [RawRecord(*values) for values in pickle.loads(blobs["records, tuples of fields (as sent)"])],
    })
    print(f"{len(records):,} records, {len(events):,} events from loghub; µs per event (per record for records)")
    print(f"{'parse (auto)':36s}: {parsing * 1e6 / len(records):6.2f}")
    for label, blob in blobs.items():
        count = len(events) if label.startswith("events") else len(records)
        print(f"{label:36s}: dumps {dumps[label] * 1e6 / count:5.2f}  loads {loads[label] * 1e6 / count:5.2f}"
              f"  ({len(blob) / count:,.0f} bytes)")
    label = "event_row (writer, JSON doc)"
    print(f"{label:36s}: {dumps[label] * 1e6 / len(events):6.2f}")

if __name__ == "__main__":
    main()
