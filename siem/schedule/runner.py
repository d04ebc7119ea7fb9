"""The scheduler thread ``siem run`` starts: runs each job as a ``siem`` subprocess when due.

A job runs as ``python -m cli --config ... --data-dir ... <command>`` in its own process
group, so a crashing or hanging job never takes ``siem run`` down; its output goes to
``<data_dir>/schedule/logs/<name>.log`` and its exit status to the log and the state file.
A job still running when it is due again is not started twice: the run is skipped and
counted (``overlaps``). After downtime, runs missed while the service was down are counted
and, with ``missed: run_once``, one run starts at once.

The clock is injectable (``clock``), and ``tick(now)`` does one pass, so tests drive the
scheduler through days of cron time in milliseconds with real subprocesses.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from siem.errors import StoreError
from siem.schedule import cron
from siem.schedule.config import RUN_ONCE, JobConfig
from siem.schedule.state import LOG_DIR, JobState, load_state, save_state

log = logging.getLogger(__name__)

#: Longest sleep between passes (so a changed wall clock is noticed soon).
MAX_SLEEP = 1.0
#: Seconds a stopped job gets between SIGTERM and SIGKILL.
KILL_GRACE = 10.0

OK, FAILED, TIMEOUT, INTERRUPTED, ERROR, RUNNING = "ok", "failed", "timeout", "interrupted", "error", "running"


def siem_command(config_file: str | None, data_dir: Path, language: str | None = None) -> list[str]:
    """The command line prefix of a job: this Python running ``cli`` with the service's files
    (and language, when the service was started with one)."""
    words = [sys.executable, "-m", "cli"]
    if config_file:
        words += ["--config", str(Path(config_file).resolve())]
    if language:
        words += ["--lang", language]
    return [*words, "--data-dir", str(data_dir.resolve())]


@dataclass(slots=True)
class _Run:
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    started: float
    deadline: float
    monotonic_start: float


class Scheduler:
    """Starts due jobs; ``start()`` runs it in a thread, ``tick(now)`` does one pass."""

    def __init__(self, jobs: Sequence[JobConfig], data_path: Path, command: Sequence[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.data_path = data_path
        self.command = list(command)
        self.clock = clock
        self.state: dict[str, JobState] = {}
        self.due: dict[str, float] = {}
        self.running: dict[str, _Run] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Load the state, deal with runs missed while the service was down, plan the next runs."""
        now = self.clock()
        self.state = load_state(self.data_path)
        for name, job in self.jobs.items():
            state = self.state.get(name)
            if state is None:
                self.state[name] = JobState(anchor=now)
            else:
                missed = cron.runs_between(job.cron, job.zone, state.anchor, now)
                if missed and job.missed == RUN_ONCE:
                    log.warning("job %s: %d run(s) missed while down; running once now", name, missed)
                    state.missed += missed - 1
                    self._launch(job, cron.previous_run(job.cron, job.zone, now), now)
                elif missed:
                    log.warning("job %s: %d run(s) missed while down; skipped (missed: skip)", name, missed)
                    state.missed += missed
                state.anchor = now
            self.due[name] = cron.next_run(job.cron, job.zone, now)
        self._save()

    def start(self) -> None:
        """Catch up, then run passes in a daemon thread until ``stop()``."""
        self.catch_up()
        self._thread = threading.Thread(target=self._loop, name="siem-schedule", daemon=True)
        self._thread.start()
        log.info("schedule: %d jobs, next: %s", len(self.jobs), self.describe_next())

    def stop(self) -> None:
        """Stop the thread, then stop running jobs (SIGTERM, SIGKILL after KILL_GRACE seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=MAX_SLEEP * 5)
        for name in list(self.running):
            self._terminate(name, INTERRUPTED)
        self._save()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self.clock())
            except Exception:  # the scheduler must not die of one bad pass; the service goes on
                log.exception("schedule: a pass failed")
            wait = min(self.due.values(), default=self.clock() + MAX_SLEEP) - self.clock()
            self._stop.wait(min(MAX_SLEEP, max(0.05, wait)))

    # -- one pass --------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Reap finished or overdue runs, then start the jobs that are due at ``now``."""
        changed = self._reap(now)
        for name, job in self.jobs.items():
            due = self.due[name]
            if now < due:
                continue
            state = self.state[name]
            if name in self.running:
                state.overlaps += 1
                log.warning("job %s: due at %s but the previous run is still going; skipped (%d so far)",
                            name, _when(due), state.overlaps)
            else:
                self._launch(job, due, now)
            state.anchor = max(state.anchor, due)
            self.due[name] = cron.next_run(job.cron, job.zone, max(due, now))
            changed = True
        if changed:
            self._save()

    def _launch(self, job: JobConfig, due: float, now: float) -> None:
        state = self.state[job.name]
        state.last_due, state.started, state.finished, state.exit_code = due, now, None, None
        arguments = [*self.command, *job.arguments()]
        path = self.data_path / LOG_DIR / f"{job.name}.log"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            output = path.open("ab")
            output.write(f"--- {_when(now)} due {_when(due)}: siem {job.command}\n".encode())
            output.flush()
            process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        except OSError as exc:
            state.result = ERROR
            log.error("job %s: cannot start %s: %s", job.name, arguments[0], exc)
            return
        state.result = RUNNING
        self.running[job.name] = _Run(process, output, now, now + job.timeout_minutes * 60, time.monotonic())
        log.info("job %s started (pid %d): siem %s", job.name, process.pid, job.command)

    def _reap(self, now: float) -> bool:
        changed = False
        for name, run in list(self.running.items()):
            code = run.process.poll()
            if code is None and now >= run.deadline:
                log.error("job %s: still running after %g minutes; stopped", name, self.jobs[name].timeout_minutes)
                self._terminate(name, TIMEOUT)
                changed = True
            elif code is not None:
                self._finish(name, code, OK if code == 0 else FAILED)
                changed = True
        return changed

    def _terminate(self, name: str, result: str) -> None:
        run = self.running[name]
        try:
            os.killpg(run.process.pid, signal.SIGTERM)
            code = run.process.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(run.process.pid, signal.SIGKILL)
            code = run.process.wait()
        except ProcessLookupError:
            code = run.process.wait()
        self._finish(name, code, result)

    def _finish(self, name: str, code: int, result: str) -> None:
        run = self.running.pop(name)
        seconds = time.monotonic() - run.monotonic_start
        try:
            run.output.write(f"--- {result}: exit {code} after {seconds:.1f} s\n".encode())
        finally:
            run.output.close()
        state = self.state[name]
        state.exit_code, state.result, state.finished = code, result, self.clock()
        if result == OK:
            log.info("job %s finished: exit 0 after %.1f s", name, seconds)
        else:
            log.warning("job %s %s: exit %d after %.1f s (output: %s)", name, result, code, seconds,
                        self.data_path / LOG_DIR / f"{name}.log")

    def _save(self) -> None:
        try:
            save_state(self.data_path, self.state)
        except StoreError as exc:
            log.error("schedule: %s", exc)

    # -- views -----------------------------------------------------------------------------------

    def describe_next(self) -> str:
        """``name at time`` of every job, soonest first."""
        return ", ".join(f"{name} at {_when(due)}" for name, due in sorted(self.due.items(), key=lambda item: item[1]))

    def wait_idle(self, timeout: float) -> bool:
        """Reap until no job is running (True) or ``timeout`` real seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            if self._reap(self.clock()):
                self._save()
            time.sleep(0.02)
        return not self.running


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
