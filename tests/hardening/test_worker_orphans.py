"""``kill -9`` of a process running ``pipeline.workers``: its workers exit at once, whether they
are building their stages or busy with a batch (not when they next touch their pipes, which for
SigmaHQ's rules is half a minute of compiling, or a long batch, later).
``test_crash_restart`` checks the same for ``siem run`` itself, between real restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.hardening.siemproc import Proc, children

#: Far below orphan_parent.BUSY_SECONDS: a worker still there then would wait for its work to end.
EXIT_SECONDS = 10.0


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition`` held within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def running(procs: list[Proc]) -> list[Proc]:
    return [proc for proc in procs if proc.running()]


@pytest.mark.parametrize("phase", ["setup", "batch"])
def test_workers_exit_at_once_when_their_main_process_is_killed(tmp_path: Path, phase: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    code = "import sys; from tests.hardening.orphan_parent import main; main(sys.argv[1], sys.argv[2])"
    errors = tmp_path / "parent.log"
    with errors.open("wb") as err:
        parent = subprocess.Popen([sys.executable, "-c", code, str(marks), phase], cwd=PROJECT_ROOT,
                                  stdout=subprocess.PIPE, stderr=err)  # fmt: skip
    helpers: list[Proc] = []
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2, errors.read_text()
        # setup: both are building their stages; batch: both are ready, then sleep in their batch
        mark = "setup" if phase == "setup" else "ready"
        assert wait_for(lambda: all((marks / f"{mark}-{pid}").exists() for pid in pids), 30), errors.read_text()
        if phase == "batch":
            time.sleep(0.5)  # the batch was waiting in the pipe: read right after "ready"
        helpers = children(parent.pid)
        assert {proc.pid for proc in helpers} >= set(pids)
        parent.kill()
        parent.wait(10)
        assert wait_for(lambda: not running(helpers), EXIT_SECONDS), (
            f"{running(helpers)} outlived their killed parent by {EXIT_SECONDS:.0f} s"
        )
    finally:
        parent.kill()
        parent.wait(10)
        for proc in running(helpers):  # a failed test leaves nothing behind
            os.kill(proc.pid, signal.SIGKILL)
