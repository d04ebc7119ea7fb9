"""Error types. Every error a user can act on is a SiemError carrying where it happened.

The CLI catches SiemError once (in cli.py), prints one line and exits with ``exit_code``.
"""

from __future__ import annotations

from pathlib import Path


class ExitCode:
    """Named process exit codes (as httpie does in httpie/status.py)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    RULES = 4
    STORE = 5
    SOURCE = 6
    TESTS_FAILED = 7
    INTERRUPTED = 130


class SiemError(Exception):
    """Root of our errors: a message, an optional file and line, and an exit code."""

    exit_code: int = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column

    def location(self) -> str:
        """``file:line:column`` as far as known, or an empty string."""
        if self.path is None:
            return f"line {self.line}" if self.line is not None else ""
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class ConfigError(SiemError):
    """A configuration file or value is wrong; the message names the key."""

    exit_code = ExitCode.CONFIG


class RuleError(SiemError):
    """A Sigma rule, filter or pipeline cannot be loaded or compiled."""

    exit_code = ExitCode.RULES


class StoreError(SiemError):
    """The store cannot be opened, migrated, written or queried."""

    exit_code = ExitCode.STORE


class StoreFullError(StoreError):
    """The store's disk is full; writers should pause and retry."""


class SourceError(SiemError):
    """A source cannot start (port in use, permission, missing file)."""

    exit_code = ExitCode.SOURCE


class ParseError(SiemError):
    """A raw record cannot be parsed by the parser that was asked to parse it."""


class WorkerError(SiemError):
    """A pipeline worker process died or failed; the pipeline stopped (a restart replays the spool)."""


class QueryError(SiemError):
    """A search query is malformed; ``column`` points at the problem."""

    exit_code = ExitCode.USAGE


class PluginError(SiemError):
    """A registered component (parser, source, enricher) cannot be loaded."""


class ConflictError(SiemError):
    """A change lost a race with another officer's change to the same record; reload and retry."""


class TransitionError(SiemError):
    """An incident cannot go from its current status to the one asked for."""

    exit_code = ExitCode.USAGE
