"""Memory under steady load: one rate over one TCP connection against a real ``siem run``.

Usage: ``python bench/memory.py [--rate 3000] [--seconds 120] [--interval 5] [--no-rules]
[--probe] [--trace]``.

``siem run`` runs as in ``bench/load.py`` (SQLite store, detection with ``rules/`` unless
``--no-rules``, sources in zone ``camera``); one sender keeps ``--rate`` lines/s of the same
unique mix for ``--seconds``. Every ``--interval`` seconds it prints the RSS of the siem process
(``VmRSS`` from /proc) and the events stored; at the end, the slope of RSS (MB per minute,
least squares) over the second half of the run: about 0 when memory is flat after warm-up.

``--probe`` runs ``siem run`` under ``bench/memprobe.py``, which also prints per sample the glibc
heap in use, SQLite's own allocations and the sizes of the engine's caches; ``--trace`` adds
``tracemalloc`` (slow: use a lower rate) and prints the allocation sites that grew most between
the middle and the end of the run. With ``SIEM_PROBE_TRIM=1`` in the environment the probe also
calls glibc ``malloc_trim(0)`` after each sample and prints the RSS after it (``trimd``): how
much of RSS is freed heap that glibc holds on to rather than live data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import ROOT, Server, connect, send


def slope_per_minute(series: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, MB)`` points, in MB per minute (0 for fewer than 2)."""
    if len(series) < 2:
        return 0.0
    n = len(series)
    mean_t = sum(t for t, _ in series) / n
    mean_m = sum(m for _, m in series) / n
    var = sum((t - mean_t) ** 2 for t, _ in series)
    if var == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in series) / var


def print_probe(directory: Path) -> None:
    """The probe's samples: RSS, heap, SQLite, traced memory and cache sizes."""
    path = directory / "probe.jsonl"
    if not path.exists():
        print("no probe samples")
        return
    records = [json.loads(text) for text in path.read_text().splitlines()]
    print("\nprobe samples (MB; blocks: pymalloc blocks allocated; caches: entries)")
    names = ("RSS", "blocks", "heap", "free", "sqlite", "traced", "trimd")
    print(f"{'n':>3s} " + " ".join(f"{name:>6s}" for name in names) + "  caches")
    for record in records:
        if "error" in record:
            print(f"{record['n']:3d} probe error {record['error']}")
            continue

        def mb(key: str, record: dict[str, object] = record) -> str:
            value = record.get(key)
            return f"{int(value) / 1024:6.0f}" if isinstance(value, int) else f"{'-':>6s}"

        caches = " ".join(f"{k}={v:,}" for k, v in sorted(record["caches"].items()))
        blocks = record.get("pymalloc_blocks", 0)
        print(f"{record['n']:3d} {mb('rss_kb')} {blocks / 1e6:5.2f}M {mb('heap_in_use_kb')} {mb('heap_free_kb')}"
              f" {mb('sqlite_kb')} {mb('traced_kb')} {mb('rss_trimmed_kb')}  {caches}")


def print_trace_diff(directory: Path) -> None:
    """Allocation sites that grew most between the middle and the last tracemalloc snapshot."""
    import tracemalloc

    snaps = sorted(directory.glob("snap-*.pickle"), key=lambda p: int(p.stem.split("-")[1]))[:-1]  # last: cut off
    if len(snaps) < 2:
        return
    middle, last = snaps[len(snaps) // 2], snaps[-1]
    before = tracemalloc.Snapshot.load(str(middle))
    after = tracemalloc.Snapshot.load(str(last))
    print(f"\ntracemalloc: growth from {middle.name} to {last.name} by line")
    for stat in after.compare_to(before, "lineno")[:15]:
        print(f"  {stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+8d} blocks  {stat.traceback[0]}")
    print("largest by line at the end:")
    for stat in after.statistics("lineno")[:12]:
        print(f"  {stat.size / 1024:9.0f} KiB {stat.count:8d} blocks  {stat.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=3000, help="lines per second (TCP)")
    parser.add_argument("--seconds", type=float, default=120.0, help="sending time")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--no-rules", action="store_true", help="detection off (for comparison)")
    parser.add_argument("--probe", action="store_true", help="run siem under bench/memprobe.py")
    parser.add_argument("--trace", action="store_true", help="with --probe: tracemalloc snapshots (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siem-memory-") as tmp:
        work = Path(tmp)
        probe_dir = work / "probe"
        probe_dir.mkdir()
        launcher = None
        if args.probe or args.trace:
            launcher = [sys.executable, str(ROOT / "bench" / "memprobe.py"), str(probe_dir), str(args.interval),
                        "1" if args.trace else "0", "--"]
        server = Server(work, ["tcp"], rules=not args.no_rules, launcher=launcher)
        print(f"siem run pid {server.process.pid}; detection {'off' if args.no_rules else 'on (rules/)'};"
              f" {args.rate:,} msg/s over TCP for {args.seconds:g} s", flush=True)
        print(f"{'t s':>6s} {'RSS MB':>7s} {'stored':>10s} {'backlog':>8s}", flush=True)
        result: dict[str, tuple[int, float]] = {}
        sock = connect(server, "tcp")

        def sender() -> None:
            result["sent"] = send(sock, "tcp", 0, args.rate, args.seconds)

        thread = threading.Thread(target=sender, daemon=True)
        series: list[tuple[float, float]] = []
        code = None
        try:
            started = time.monotonic()
            thread.start()
            next_sample = started
            while thread.is_alive():
                thread.join(max(0.0, next_sample - time.monotonic()))
                now = time.monotonic()
                if now < next_sample:
                    continue
                elapsed = now - started
                rss, stored = server.memory_mb(), server.stored()
                series.append((elapsed, rss))
                backlog = max(0, int(min(elapsed, args.seconds) * args.rate) - stored)
                print(f"{elapsed:6.0f} {rss:7.0f} {stored:10,d} {backlog:8,d}", flush=True)
                next_sample += args.interval
            sock.close()
            sent, took = result.get("sent", (0, 1.0))
            deadline = time.monotonic() + 120
            while server.stored() < sent and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = server.stored()
            second_half = [(t, m) for t, m in series if t >= args.seconds / 2]
            rss_values = [m for _, m in series]
            print(f"sent {sent:,} at {sent / took:,.0f}/s, stored {stored:,}; RSS min {min(rss_values):.0f} MB,"
                  f" max {max(rss_values):.0f} MB, end {server.memory_mb():.0f} MB, peak (VmHWM)"
                  f" {server.memory_mb('VmHWM'):.0f} MB")
            print(f"RSS slope over the second half ({len(second_half)} samples):"
                  f" {slope_per_minute(second_half):+.1f} MB/min; over the whole run"
                  f" {slope_per_minute(series):+.1f} MB/min")
        finally:
            code = server.stop()
            problems = [text for text in server.log.read_text(errors="replace").splitlines()
                        if " WARNING " in text or " ERROR " in text or "Error" in text]
            if problems:
                print(f"siem run logged {len(problems)} warnings/errors, e.g.:", *problems[:8], sep="\n  ")
        if args.probe or args.trace:
            print_probe(probe_dir)
        if args.trace:
            print_trace_diff(probe_dir)
        print(f"siem run exited {code}")


if __name__ == "__main__":
    main()
