"""Benchmark of the parsers: lines per second and µs per line on real inputs, repeated.

Usage: ``.venv/bin/python bench/parsers.py [--lines 50000] [--only NAME,...] [--against REV] [--rounds 3]``

Rows:

* each parser measured in ``tests/collectors/parsers/elastic_cases.py`` on Elastic's test inputs
  (plus linux.auth on loghub's OpenSSH sample), through its own ``parse(record)``;
* ``auto:load-mix``: auto-detection over the syslog mix of ``bench/load.py`` (sshd failed
  logins, ufw blocks, plain application lines), each record with its own receive time, as
  datagrams arrive;
* ``auto:loghub``: auto-detection over the loghub samples (as ``bench/ingest.py`` parses them).

The input lines are repeated up to ``--lines`` records (each with its own record key, so event
ids differ) and parsed on one thread; the best of ``--rounds`` passes is kept. Time is the
process's CPU time (``--clock wall`` for wall time): on a shared machine the wall clock also
counts the turns of other processes.

``--against REV`` also measures the parsers of git revision ``REV`` (``collectors/`` from
``git archive``, run in a child process beside one of the working tree, alternating, best of
``--rounds`` each) and prints both with the ratio: before/after figures from one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_path(collectors_from: str | None) -> None:
    """Put the project (and, first, another copy of ``collectors/``) on the import path."""
    sys.path.insert(0, str(ROOT))
    if collectors_from:
        sys.path.insert(0, collectors_from)


def inputs(corpus: Path) -> dict[str, list[str]]:
    """Input lines by parser name."""
    from tests.collectors.parsers.elastic_cases import FILES

    lines: dict[str, list[str]] = {}
    for spec in FILES:
        text = (corpus / "elastic-pipeline-tests" / spec.path).read_text()
        lines.setdefault(spec.parser, []).extend(line for line in text.splitlines() if line)
    openssh = corpus / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    lines["linux.auth"] = openssh.read_text().splitlines()
    if "zeek" in lines:
        lines["zeek"] = [line for line in lines["zeek"] if line.startswith("{")]
    return lines


def load_mix(count: int) -> list[str]:
    """``count`` lines of bench/load.py's mix, stamped as they would be over ``count / 4000`` s."""
    sys.path.insert(0, str(ROOT / "bench"))
    from load import line  # bench/load.py

    stamps = [
        time.strftime("%b %d %H:%M:%S", time.gmtime(1_764_064_800 + s)).encode() for s in range(count // 4000 + 1)
    ]
    return [line(n, stamps[n // 4000]).decode().rstrip("\n") for n in range(count)]


def loghub(corpus: Path) -> list[str]:
    """The loghub samples' lines, as bench/ingest.py reads them."""
    files = sorted((corpus / "loghub").glob("*/*.log"))
    return [text for path in files for text in path.read_text(errors="replace").splitlines()]


def rows(
    count: int, only: set[str] | None, clock: Callable[[], float] = time.process_time
) -> list[tuple[str, int, Callable[[], float]]]:
    """(row name, distinct lines, a function timing one pass and returning its seconds)."""
    from collectors.base import RawRecord
    from collectors.parsers.catalog import load_parser
    from collectors.registry import create_parser
    from siem.errors import ParseError
    from tests.conftest import corpus_path

    corpus = corpus_path()
    if not corpus.is_dir():
        sys.exit(f"no corpus at {corpus} (set SIEM_CORPUS)")
    out: list[tuple[str, int, Callable[[], float]]] = []

    def timer(parse: Callable[[RawRecord], object], records: list[RawRecord]) -> Callable[[], float]:
        def run() -> float:
            start = clock()
            for record in records:
                with contextlib.suppress(ParseError):  # failures count: they are work done too
                    parse(record)
            return clock() - start

        return run

    named = inputs(corpus)
    named["auto:load-mix"] = load_mix(count)
    named["auto:loghub"] = loghub(corpus)
    for name, lines in sorted(named.items()):
        if only is not None and name not in only:
            continue
        if name.startswith("auto:"):
            parser = create_parser("auto")
            origin, base = ("udp://192.0.2.7:514", 1_764_064_800.0) if name == "auto:load-mix" else ("file:///b", 1.7e9)
            records = [RawRecord(lines[i % len(lines)], origin, base + i / 4000, str(i)) for i in range(count)]
        else:
            parser = load_parser(name)
            records = [
                RawRecord(lines[i % len(lines)], "file:///b", 1.7e9, str(i), timezone="Europe/Berlin")
                for i in range(count)
            ]
        out.append((name, len(set(lines)), timer(parser.parse, records)))
    return out


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def measure(count: int, rounds: int, only: set[str] | None, clock: str = "cpu") -> dict[str, tuple[int, float]]:
    """Row name -> (distinct lines, best seconds per line)."""
    result: dict[str, tuple[int, float]] = {}
    for name, distinct, run in rows(count, only, CLOCKS[clock]):
        run()  # warm caches and imports, as a running collector has them
        result[name] = (distinct, min(run() for _ in range(rounds)) / count)
    return result


def _worker(args: argparse.Namespace) -> None:
    only = set(args.only.split(",")) if args.only else None
    print(json.dumps(measure(args.lines, 1, only, args.clock)))


def _child(collectors_from: str | None, args: argparse.Namespace) -> dict[str, tuple[int, float]]:
    command = [sys.executable, __file__, "--worker", "--lines", str(args.lines), "--clock", args.clock]
    if args.only:
        command += ["--only", args.only]
    if collectors_from:
        command += ["--collectors-from", collectors_from]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return {name: (int(value[0]), float(value[1])) for name, value in json.loads(done.stdout).items()}


def _against(args: argparse.Namespace) -> None:
    archive = subprocess.run(["git", "archive", args.against, "collectors"], cwd=ROOT, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as old:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(old, filter="data")
        best_old: dict[str, tuple[int, float]] = {}
        best_new: dict[str, tuple[int, float]] = {}
        for _ in range(args.rounds):  # alternate: a busy machine slows both alike
            for best, source in ((best_old, old), (best_new, None)):
                for name, (distinct, seconds) in _child(source, args).items():
                    if name not in best or seconds < best[name][1]:
                        best[name] = (distinct, seconds)
    print(f"{'parser':<20} {'distinct':>8} {'records':>8} {args.against + ' µs':>12} {'now µs':>8} {'speed-up':>9}")
    for name, (distinct, now) in sorted(best_new.items()):
        before = best_old.get(name, (0, float("nan")))[1]
        print(f"{name:<20} {distinct:>8} {args.lines:>8} {before * 1e6:>12.2f} {now * 1e6:>8.2f} {before / now:>8.2f}x")


def main() -> None:
    """Time every parser and print one row each (or compare with ``--against``)."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--lines", type=int, default=50_000)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--only", help="comma-separated row names")
    options.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="CPU time (default) or wall time")
    options.add_argument("--against", metavar="REV", help="also time collectors/ of this git revision")
    options.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--collectors-from", help=argparse.SUPPRESS)
    args = options.parse_args()
    _import_path(args.collectors_from)
    if args.worker:
        _worker(args)
        return
    if args.against:
        _against(args)
        return
    only = set(args.only.split(",")) if args.only else None
    print(f"{'parser':<20} {'distinct':>8} {'records':>8} {'lines/s':>10} {'µs/line':>8}")
    for name, (distinct, seconds) in measure(args.lines, args.rounds, only, args.clock).items():
        print(f"{name:<20} {distinct:>8} {args.lines:>8} {1 / seconds:>10,.0f} {seconds * 1e6:>8.2f}")


if __name__ == "__main__":
    main()
