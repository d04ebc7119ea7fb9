"""The main process of ``test_worker_orphans``: a worker pool busy building its stages or with
a batch, until this process is killed. Light on imports: the spawned workers import it."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from collectors.base import RawRecord
from siem.pipeline.stages import PickledStages, WorkerStages
from tests.pipeline.slow_parsers import sleeping_parsers

#: How long a worker is busy (building its stages, or with its batch): far longer than the test waits.
BUSY_SECONDS = 120


class MarkedSetup:
    """Builds sleeping-parser stages, leaving a file named after the worker's pid in ``marks``
    (``setup-PID`` before building, ``ready-PID`` after); ``slow``: building takes BUSY_SECONDS."""

    def __init__(self, marks: str, *, slow: bool) -> None:
        self.marks, self.slow = marks, slow

    def __call__(self) -> WorkerStages:
        """Mark, (sleep,) build, mark."""
        (Path(self.marks) / f"setup-{os.getpid()}").touch()
        if self.slow:
            time.sleep(BUSY_SECONDS)
        stages = PickledStages(sleeping_parsers)()
        (Path(self.marks) / f"ready-{os.getpid()}").touch()
        return stages


def main(marks: str, phase: str) -> None:
    """Start two workers; with phase ``batch`` hand each a batch that sleeps BUSY_SECONDS. Then wait."""
    from siem.pipeline.workers import WorkerPool

    pool = WorkerPool(MarkedSetup(marks, slow=phase == "setup"), 2)
    pool.start()
    batches = [[RawRecord(text=str(BUSY_SECONDS * 1000), origin="test://", received=0.0, key=str(n))] for n in range(2)]

    def take() -> list[RawRecord] | None:
        if batches:
            return batches.pop()
        time.sleep(0.05)  # as the record queue waits for a flush interval
        return []

    threading.Thread(target=pool.feed, args=(take, lambda: False), daemon=True).start()
    print(" ".join(map(str, pool.pids)), flush=True)
    time.sleep(BUSY_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
