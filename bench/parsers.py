"""Benchmark of the vendor parsers: lines per second on Elastic's real test inputs, repeated.

Usage: ``.venv/bin/python bench/parsers.py [--lines 50000]``

For each parser measured in ``tests/collectors/parsers/elastic_cases.py`` (plus linux.auth
on loghub's OpenSSH sample), the input lines are repeated up to ``--lines`` records (each with
its own record key, so event ids differ) and parsed on one process. Prints lines/s per parser.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.base import RawRecord  # noqa: E402
from collectors.parsers.catalog import load_parser  # noqa: E402
from siem.errors import ParseError  # noqa: E402
from tests.collectors.parsers.elastic_cases import FILES  # noqa: E402
from tests.conftest import corpus_path  # noqa: E402


def inputs(corpus: Path) -> dict[str, list[str]]:
    """Input lines by parser name."""
    lines: dict[str, list[str]] = {}
    for spec in FILES:
        text = (corpus / "elastic-pipeline-tests" / spec.path).read_text()
        lines.setdefault(spec.parser, []).extend(line for line in text.splitlines() if line)
    openssh = corpus / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    lines["linux.auth"] = openssh.read_text().splitlines()
    return lines


def main() -> None:
    """Time every parser and print one row each."""
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--lines", type=int, default=50_000)
    count = options.parse_args().lines
    print(f"{'parser':<20} {'distinct':>8} {'records':>8} {'lines/s':>10}")
    for name, lines in sorted(inputs(corpus_path()).items()):
        if name == "zeek":
            lines = [line for line in lines if line.startswith("{")]
        parser = load_parser(name)
        records = [
            RawRecord(lines[i % len(lines)], "file:///b", 1.7e9, str(i), timezone="Europe/Berlin")
            for i in range(count)
        ]
        start = time.perf_counter()
        for record in records:
            with contextlib.suppress(ParseError):  # failures count: they are work done too
                parser.parse(record)
        elapsed = time.perf_counter() - start
        print(f"{name:<20} {len(lines):>8} {count:>8} {count / elapsed:>10,.0f}")


if __name__ == "__main__":
    main()
