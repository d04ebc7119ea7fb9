"""Memory probe for ``bench/memory.py``: runs ``cli.py`` with a thread that samples memory.

Usage (as ``bench/memory.py`` does): ``python bench/memprobe.py OUT_DIR INTERVAL TRACE -- <cli.py
arguments>``. Every ``INTERVAL`` seconds it appends one JSON line to ``OUT_DIR/probe.jsonl``:
RSS, glibc heap (``mallinfo2``), SQLite's own allocations (``sqlite3_memory_used``), memory
traced by ``tracemalloc`` (when ``TRACE`` is 1, which also saves a snapshot per sample as
``OUT_DIR/snap-<n>.pickle`` for diffing), and the
sizes of the caches the detection engine, the correlation engine and the stores hold. Kept out
of ``siem`` so production code pays nothing for it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
import tracemalloc
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def _sqlite_used() -> int | None:
    import sqlite3  # noqa: F401  (loads libsqlite3 into the process)

    for name in ("libsqlite3.so.0", ctypes.util.find_library("sqlite3")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.sqlite3_memory_used.restype = ctypes.c_int64
            return int(lib.sqlite3_memory_used())
        except (OSError, AttributeError):
            continue
    return None


def _rss_kb() -> int:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    return 0


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
#: With SIEM_PROBE_TRIM=1 each sample also calls glibc ``malloc_trim(0)`` and records RSS after it.
_TRIM = os.environ.get("SIEM_PROBE_TRIM") == "1"


def _register_instances() -> None:
    """Remember every RuleIndex, CorrelationEngine and Detector made (weakly). The probe does
    not walk ``gc.get_objects()``: holding a tuple that another thread is still building makes
    ``_PyTuple_Resize`` fail (SystemError) in that thread."""
    from siem.detect.correlation import CorrelationEngine
    from siem.detect.engine import Detector
    from siem.detect.index import RuleIndex

    for cls in (RuleIndex, CorrelationEngine, Detector):
        init = cls.__init__

        def tracked(self: Any, *args: Any, __init: Any = init, **kwargs: Any) -> None:
            __init(self, *args, **kwargs)
            _LIVE.add(self)

        cls.__init__ = tracked  # type: ignore[method-assign]


def _caches() -> dict[str, int]:
    """Sizes of the engine caches of the live instances."""
    from siem.detect import values

    out: Counter[str] = Counter()
    for obj in list(_LIVE):
        name = obj.__class__.__name__
        if name == "RuleIndex":
            out["rule_indexes"] += 1
            out["index_cache_entries"] += len(obj._cache) + len(obj._cache.old)
            out["index_memo_entries"] += len(obj._memo)
        elif name == "CorrelationEngine":
            out["correlation_groups"] += obj.group_count
            out["correlation_hits"] += obj.hit_count
            out["correlation_updates_pending"] += len(obj._updates)
        elif name == "Detector":
            out["detector_plans"] += len(obj._plans)
            out["detector_routes"] += len(obj._routes)
    for name in dir(values):
        info = getattr(getattr(values, name), "cache_info", None)
        if info is not None:
            out[f"lru_{name}"] = info().currsize
    return dict(out)


def _sample(out: Path, number: int, trace: bool, libc: Any) -> None:
    record: dict[str, Any] = {"n": number, "time": time.time(), "rss_kb": _rss_kb()}
    record["pymalloc_blocks"] = sys.getallocatedblocks()
    try:
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        record["heap_in_use_kb"] = info.uordblks // 1024 + info.hblkhd // 1024
        record["heap_free_kb"] = info.fordblks // 1024
    except AttributeError:
        pass
    record["sqlite_kb"] = (_sqlite_used() or 0) // 1024
    if _TRIM:
        libc.malloc_trim(0)
        record["rss_trimmed_kb"] = _rss_kb()
    if trace:
        current, _peak = tracemalloc.get_traced_memory()
        record["traced_kb"] = current // 1024
        tracemalloc.take_snapshot().dump(str(out / f"snap-{number}.pickle"))
    record["caches"] = _caches()
    with (out / "probe.jsonl").open("a") as stream:
        stream.write(json.dumps(record) + "\n")


def _loop(out: Path, interval: float, trace: bool) -> None:
    libc = _libc()
    number = 0
    while True:
        time.sleep(interval)
        try:
            _sample(out, number, trace, libc)
        except Exception as exc:  # a probe bug must not stop siem run
            with (out / "probe.jsonl").open("a") as stream:
                stream.write(json.dumps({"n": number, "error": repr(exc)}) + "\n")
        number += 1


def main() -> None:
    out, interval, trace = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
    arguments = sys.argv[sys.argv.index("--") + 1:]
    if trace:
        tracemalloc.start(8)
    _register_instances()
    threading.Thread(target=_loop, args=(out, interval, trace), name="memprobe", daemon=True).start()
    import cli

    sys.argv = ["siem", *arguments]
    cli.main(arguments)


if __name__ == "__main__":
    main()
