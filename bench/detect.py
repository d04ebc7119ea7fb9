"""Benchmark of the Sigma engine: SigmaHQ rules against the regression events, repeated.

Usage: ``.venv/bin/python bench/detect.py [--events 200000] [--profile] [--stages] [--json]
[--no-cache] [--no-result-cache]`` (the last three turn off one speed-up each, to compare).

Loads every rule of ``rules/``, ``rules-emerging-threats/`` and ``rules-threat-hunting/``,
flattens the regression events, repeats them (varying record ids, process ids and times so
nothing is trivially cached) into JSON lines, then times, on one process:
  * decoding the lines only, with ``json.loads`` and with ``orjson.loads`` (what the engine's
    readers use; ``--json`` makes the detection runs decode with ``json.loads`` instead),
  * decoding plus detection with ``--logsource strict`` and with ``any``.
Prints rules loaded, load time, events/s, the ratio to decoding only, matches, peak memory;
each rate also by CPU time (``time.process_time``), steadier than the wall clock when the
machine is shared.
Each mode first sees 1,000 events untimed, which builds its routing plans (one rule index per
combination of event facets); the steady state after that is what is timed.
``--stages`` then times each stage of ``--logsource strict`` on its own, in microseconds per
event, over freshly decoded events: decode, routing, candidate finding, running the
candidates' matchers, and the rest of ``Detector.detect`` (building the matches).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siem.commands.detect import load_event_file  # noqa: E402
from siem.detect.engine import Detector  # noqa: E402
from siem.detect.loader import RuleSet, load_rules  # noqa: E402
from siem.detect.regex import RESULTS  # noqa: E402
from siem.detect.regression import find_cases  # noqa: E402

CORPUS = Path(os.environ.get("SIEM_CORPUS", ROOT.parent / "shared" / "corpus")) / "sigmahq"
FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def _lines(count: int) -> list[str]:
    base = []
    for case in find_cases(CORPUS / "regression_data"):
        for case_file in case.files:
            if case_file.path.is_file():
                for event in load_event_file(case_file.path, case_file.kind):
                    event.pop("event.original", None)
                    base.append(event)
    lines = []
    for number in range(count):
        event = dict(base[number % len(base)])
        event["EventRecordID"] = 1_000_000 + number
        if "ProcessId" in event:
            event["ProcessId"] = 4000 + number % 5000
        event["@timestamp"] = f"2026-11-25T10:{number // 60000 % 60:02d}:{number // 1000 % 60:02d}.{number % 1000:03d}Z"
        lines.append(json.dumps(event))
    return lines


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the strict run")
    parser.add_argument("--no-cache", action="store_true",
                        help="turn off the index's per-value scan cache")
    parser.add_argument("--no-result-cache", action="store_true",
                        help="turn off the cache of regex, wildcard and substring-list results per text")
    parser.add_argument("--json", action="store_true",
                        help="decode with json.loads in the detection runs (default: orjson.loads)")
    parser.add_argument("--stages", action="store_true",
                        help="time each stage of the strict run on its own")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS} (set SIEM_CORPUS)")

    if args.no_result_cache:  # before the rules are compiled: their searches are wrapped then
        RESULTS.limit = 0
    started = time.perf_counter()
    ruleset = load_rules([CORPUS / folder for folder in FOLDERS])
    load_seconds = time.perf_counter() - started
    print(f"rules loaded: {len(ruleset.rules)} (+{len(ruleset.correlations)} correlations), "
          f"unsupported: {len(ruleset.problems)}, load time: {load_seconds:.1f} s")
    print(f"peak memory after load: {_peak_mib():.0f} MiB")

    lines = _lines(args.events)
    print(f"events: {len(lines)} ({len(set(lines))} distinct lines)")

    decoders = {"json.loads": json.loads, "orjson.loads": orjson.loads}
    loads = json.loads if args.json else orjson.loads
    decode_seconds = decode_cpu = 0.0
    for name, decode in decoders.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        for line in lines:
            decode(line)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        print(f"decode only ({name}): {len(lines) / seconds:,.0f} events/s "
              f"(CPU time: {len(lines) / cpu:,.0f} events/s)")
        if decode is loads:  # the ratios below are to the decoder the detection runs use
            decode_seconds, decode_cpu = seconds, cpu

    for mode in ("strict", "any"):
        detector = Detector(ruleset, logsource=mode, value_cache=0 if args.no_cache else 16384)
        started = time.perf_counter()
        for line in lines[:1000]:  # builds the routing plans once (steady state is timed)
            detector.match_event(loads(line))
        warmup = time.perf_counter() - started
        profiler = cProfile.Profile() if args.profile and mode == "strict" else None
        matches = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for index, line in enumerate(lines):
            matches += len(detector.detect([loads(line)], index).matches)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        rate = len(lines) / seconds
        print(f"--logsource {mode}: {rate:,.0f} events/s, {seconds:.2f} s, "
              f"{seconds / decode_seconds:.2f}x decode time, {matches} matches "
              f"(warm-up of 1000 events building the plans: {warmup:.2f} s); CPU time: "
              f"{len(lines) / cpu:,.0f} events/s, {cpu / decode_cpu:.2f}x decode")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    print(f"peak memory: {_peak_mib():.0f} MiB")
    if args.stages:  # holds every decoded event at once: its memory is not the engine's
        _stages(ruleset, lines, 0 if args.no_cache else 16384, loads)
        print(f"peak memory with --stages: {_peak_mib():.0f} MiB")


def _stages(ruleset: RuleSet, lines: list[str], value_cache: int, loads: Any) -> None:
    """Microseconds (CPU time) per event of each stage of the strict run, one stage at a time."""
    detector = Detector(ruleset, logsource="strict", value_cache=value_cache)
    for line in lines[:1000]:
        detector.match_event(loads(line))
    count = len(lines)
    started = time.process_time()
    events = [loads(line) for line in lines]
    decoded = time.process_time()
    indexes = [detector._index_for(event) for event in events]
    routed = time.process_time()
    candidates = [index.ordered(event) for index, event in zip(indexes, events, strict=True)]
    found = time.process_time()
    matchers = detector._matchers
    matched = [[n for n in numbers if matchers[n](event)]
               for numbers, event in zip(candidates, events, strict=True)]
    ran = time.process_time()
    for index, event in enumerate(events):
        detector.detect([event], index)
    whole = time.process_time() - ran
    per_event = 1e6 / count
    stages = {"decode": decoded - started, "route": routed - decoded,
              "candidates": found - routed, "matchers": ran - found}
    print("strict stages (us/event): " + ", ".join(
        f"{name} {seconds * per_event:.1f}" for name, seconds in stages.items())
        + f"; detect() whole {whole * per_event:.1f} (warm caches)"
        + f"; candidates/event {sum(map(len, candidates)) / count:.2f}"
        + f", matches/event {sum(map(len, matched)) / count:.2f}")


if __name__ == "__main__":
    main()
