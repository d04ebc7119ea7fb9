"""Long fuzz run of every input the project reads: no crash, no hang, no unbounded memory (issue 8).

Usage: ``.venv/bin/python bench/fuzz.py [--target NAME|all] [--count 1000000] [--jobs 1]
[--out DIR] [--hang 10] [--memory 2048] [--seed 0]``; ``--list`` names the targets.

The targets and the mutations are those of the bounded tests (``tests/fuzz/targets.py``):
real corpus lines, packets, captures, rules and the example configuration, changed byte by
byte. Input ``i`` of a target is made from ``Random("target:seed:i")``, so a finding is
reproduced from its index alone. Workers (``--jobs``) run under an address-space limit
(``--memory`` MiB: runaway memory becomes a MemoryError, a finding); the parent kills a worker
whose input runs longer than ``--hang`` seconds and records it as a hang. Each crashing or
hanging input is saved to ``--out`` (default: ``siem-fuzz-findings`` in the temporary folder;
the first 3 of each kind, by exception type and place).

Prints per target: inputs, crashes (distinct kinds), hangs, slowest input, inputs/s, peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.targets import all_targets, mutate  # noqa: E402

SAVED_PER_KIND = 3


def make_input(target: str, seed: int, index: int, seeds: list[bytes]) -> bytes:
    """Input ``index`` of ``target`` (deterministic)."""
    return mutate(random.Random(f"{target}:{seed}:{index}"), seeds)


def _kind(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def _save(out: Path, target: str, index: int, data: bytes, text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{target.replace(':', '_')}-{index}"
    (out / f"{stem}.bin").write_bytes(data)
    (out / f"{stem}.txt").write_text(text)


def _worker(name: str, seed: int, start: int, step: int, count: int, memory_mb: int,
            progress: Any, results: Any, out: str) -> None:
    """Run inputs start, start+step, ... below count; report counts at the end."""
    if memory_mb:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.nice(0)
    target = all_targets()[name]
    seeds = target.seeds()
    with contextlib.suppress(Exception):  # warm up (imports, compiled patterns) before timing
        target.run(seeds[0] if seeds else b"")
    kinds: dict[str, int] = {}
    slowest = (0.0, -1)
    done = 0
    for index in range(start, count, step):
        data = make_input(name, seed, index, seeds)
        progress[0] = index
        progress[1] = time.monotonic()
        began = time.perf_counter()
        try:
            target.run(data)
        except Exception as exc:  # a finding: anything the contract does not allow
            kind = _kind(exc)
            kinds[kind] = kinds.get(kind, 0) + 1
            if kinds[kind] <= SAVED_PER_KIND:
                _save(Path(out), name, index, data, "".join(traceback.format_exception(exc)))
        elapsed = time.perf_counter() - began
        if elapsed > slowest[0]:
            slowest = (elapsed, index)
        done += 1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    progress[1] = -1.0
    results.put((done, kinds, slowest, rss_mb))


def run_target(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fuzz one target with ``args.jobs`` workers; restart a worker after a hang."""
    context = mp.get_context("fork")
    results: Any = context.Queue()
    started = time.perf_counter()
    workers: list[tuple[Any, Any, int, int]] = []
    hangs = 0

    def launch(first: int, slot: int) -> None:
        progress = context.Array("d", [float(first), time.monotonic()], lock=False)
        process = context.Process(target=_worker, args=(name, args.seed, first, args.jobs, args.count,
                                                        args.memory, progress, results, str(args.out)))
        process.start()
        workers.append((process, progress, slot, first))

    for slot in range(args.jobs):
        launch(slot, slot)
    reports: list[tuple[int, dict[str, int], tuple[float, int], float]] = []
    while workers:
        time.sleep(0.5)
        for entry in list(workers):
            process, progress, slot, first = entry
            beat = progress[1]
            if process.is_alive() and beat > 0 and time.monotonic() - beat > args.hang:
                index = int(progress[0])
                process.kill()
                process.join()
                workers.remove(entry)
                hangs += 1
                seeds = all_targets()[name].seeds()
                _save(args.out, name, index, make_input(name, args.seed, index, seeds),
                      f"hang: input {index} ran over {args.hang} s")
                reports.append(((index - first) // args.jobs, {}, (float(args.hang), index), 0.0))
                if index + args.jobs < args.count:
                    launch(index + args.jobs, slot)
            elif not process.is_alive():
                process.join()
                workers.remove(entry)
                if process.exitcode != 0:
                    reports.append((0, {f"worker died (exit code {process.exitcode})": 1}, (0.0, -1), 0.0))
        while not results.empty():
            reports.append(results.get())
    while not results.empty():
        reports.append(results.get())
    kinds: dict[str, int] = {}
    for _, found, _, _ in reports:
        for kind, number in found.items():
            kinds[kind] = kinds.get(kind, 0) + number
    return {
        "inputs": sum(report[0] for report in reports) + hangs,
        "kinds": kinds,
        "hangs": hangs,
        "slowest": max((report[2] for report in reports), default=(0.0, -1)),
        "rss": max((report[3] for report in reports), default=0.0),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    """Parse the options, fuzz each target, print one row each."""
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--target", default="all", help="a target name, or all (see --list)")
    options.add_argument("--count", type=int, default=1_000_000, help="inputs per target")
    options.add_argument("--jobs", type=int, default=1, help="worker processes per target")
    options.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "siem-fuzz-findings",
                         help="folder for findings")
    options.add_argument("--hang", type=float, default=10.0, help="seconds after which an input hangs")
    options.add_argument("--memory", type=int, default=2048, help="address-space limit per worker, MiB")
    options.add_argument("--seed", type=int, default=0)
    options.add_argument("--list", action="store_true", help="print the target names and stop")
    args = options.parse_args()
    targets = all_targets()
    if args.list:
        print("\n".join(targets))
        return
    names = list(targets) if args.target == "all" else args.target.split(",")
    unknown = [name for name in names if name not in targets]
    if unknown:
        options.error(f"unknown target {', '.join(unknown)} (see --list)")
    print(f"{'target':<28} {'inputs':>9} {'crashes':>8} {'hangs':>5} {'slowest':>10} {'inputs/s':>9} "
          f"{'peak RSS':>9}", flush=True)
    total_findings = 0
    for name in names:
        result = run_target(name, args)
        crashes = sum(result["kinds"].values())
        total_findings += crashes + result["hangs"]
        slow_s, slow_index = result["slowest"]
        rate = result["inputs"] / result["seconds"] if result["seconds"] else 0.0
        print(f"{name:<28} {result['inputs']:>9} {crashes:>8} {result['hangs']:>5} "
              f"{slow_s * 1000:>8.1f}ms {rate:>9.0f} {result['rss']:>7.0f}MB"
              f"  (slowest: input {slow_index})", flush=True)
        for kind, number in sorted(result["kinds"].items()):
            print(f"    {number} x {kind}", flush=True)
    if total_findings:
        print(f"findings saved under {args.out}/", flush=True)
    sys.exit(1 if total_findings else 0)


if __name__ == "__main__":
    main()
