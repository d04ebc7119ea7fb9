"""Figure: cost of integrity seals on SqliteStore.write(), and the speed of ``verify``.

The workload of bench/store_write.py (realistic syslog events, batches of 1000) is written
into fresh stores with sealing on and off (off: the store's sealing hooks replaced by no-ops,
as before seals existed), alternating, in one run; then the sealed store is verified. Usage::

    .venv/bin/python bench/seals.py [--events 100000] [--batch 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_write import make_events, sample_lines

from siem import event as ecs
from siem.integrity.verify import verify
from siem.store.sqlite import SqliteStore
from siem.store.sqlite import store as store_module


@contextlib.contextmanager
def sealing(enabled: bool) -> Iterator[None]:
    """Sealing as shipped, or replaced by no-ops."""
    if enabled:
        yield
        return
    names = ("reserve_seqs", "seal_new_rows", "record_head")
    saved = {name: getattr(store_module, name) for name in names}

    def keep(conn: Any, last_seq: int) -> int:
        return last_seq

    def nothing(*args: Any) -> None:
        return None

    for name, stand_in in zip(names, (keep, nothing, nothing), strict=True):
        setattr(store_module, name, stand_in)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(store_module, name, value)


def write_all(path: Path, events: list[ecs.Event], batch: int) -> tuple[float, float, SqliteStore]:
    """Wall and CPU seconds to write ``events`` in batches into a new store at ``path``."""
    store = SqliteStore(path)
    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, len(events), batch):
        store.write(events[offset : offset + batch], checkpoints={"bench": str(offset)})
    return time.perf_counter() - started, time.process_time() - cpu_started, store


def main() -> None:
    """Print events/s with and without seals, their ratio, and verification speed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    events = make_events(sample_lines(), args.events, time.time() - 86400)
    best: dict[bool, float] = {}
    best_cpu: dict[bool, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(args.rounds):
            for enabled in (False, True):
                path = Path(folder) / f"bench-{round_number}-{enabled}.db"
                with sealing(enabled):
                    elapsed, cpu, store = write_all(path, events, args.batch)
                if not enabled:
                    assert verify(store).seals == 0, "sealing was not turned off"
                if enabled and round_number == args.rounds - 1:
                    started = time.perf_counter()
                    result = verify(store)
                    verify_elapsed = time.perf_counter() - started
                    assert result.ok, result.to_dict()
                store.close()
                path.unlink()
                best[enabled] = min(best.get(enabled, elapsed), elapsed)
                best_cpu[enabled] = min(best_cpu.get(enabled, cpu), cpu)
    off, on = len(events) / best[False], len(events) / best[True]
    cpu_off, cpu_on = len(events) / best_cpu[False], len(events) / best_cpu[True]
    print(f"write without seals: {off:,.0f} events/s wall, {cpu_off:,.0f} per CPU second"
          f" (best of {args.rounds}, batches of {args.batch})")
    print(f"write with seals:    {on:,.0f} events/s wall, {cpu_on:,.0f} per CPU second"
          f" ({on / off:.2f} of the unsealed wall rate, {cpu_on / cpu_off:.2f} per CPU second)")
    print(f"verify: {result.events_checked:,} events in {result.batches_checked} batches: "
          f"{verify_elapsed:.2f} s, {result.events_checked / verify_elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
