"""The durable outbox: one file per message in ``<data_dir>/outbox/queue``, sent in order.

Each message is written atomically (temporary file, fsync, rename, fsync of the directory)
and named ``<sequence>-<key hash>.eml``, so ``sorted()`` is the order of submission. After the
server accepts a message its file moves to ``sent/`` (the newest ``keep_sent`` are kept); a
message the server refuses for good moves to ``failed/`` with a ``.reason`` file beside it.

Exactly once, honestly: SMTP has no way to make "server accepted" and "file moved" one step.
If the process dies between the two, the message is sent again after restart. Every message
carries a Message-ID derived from its content key (``alert:<route>:<alert id>`` ...), so the
resend has the same Message-ID and mail clients and servers that de-duplicate by Message-ID
show it once; in the worst case a recipient sees a duplicate, never a loss. The same key is
never queued twice while its file is in ``queue``, ``sent`` or ``failed``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

log = logging.getLogger(__name__)

_SUFFIX = ".eml"
_TMP_PREFIX = ".tmp-"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that after a crash it is either whole or absent."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def key_hash(key: str) -> str:
    """A short, file-name-safe digest of a message's content key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def message_id(key: str, sender: str) -> str:
    """The Message-ID (RFC 5322 section 3.6.4) for content ``key``: the same key, the same id."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{key_hash(key)}.siem@{domain}>"


class Outbox:
    """Queue of messages on disk, oldest first."""

    def __init__(self, root: Path, *, keep_sent: int = 200) -> None:
        self.root = root
        self.queue_dir = root / "queue"
        self.sent_dir = root / "sent"
        self.failed_dir = root / "failed"
        self.keep_sent = keep_sent
        for directory in (self.queue_dir, self.sent_dir, self.failed_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for leftover in directory.glob(f"{_TMP_PREFIX}*"):
                leftover.unlink()

    def enqueue(self, message: EmailMessage, key: str) -> Path | None:
        """Store ``message`` under content ``key``; None when that key is already stored."""
        digest = key_hash(key)
        if self.has_key(key):
            log.debug("message %s is already in the outbox", digest)
            return None
        del message["Message-ID"]
        message["Message-ID"] = message_id(key, str(message["From"] or ""))
        path = self.queue_dir / f"{self._next_sequence():012d}-{digest}{_SUFFIX}"
        atomic_write(path, message.as_bytes(policy=policy.SMTP))
        return path

    def has_key(self, key: str) -> bool:
        """Whether a message with content ``key`` is queued, sent (and kept) or failed."""
        ending = f"-{key_hash(key)}{_SUFFIX}"
        return any(name.endswith(ending) for directory in self._dirs() for name in os.listdir(directory))

    def pending(self) -> list[Path]:
        """Queued message files in the order they were queued."""
        return sorted(self.queue_dir.glob(f"*{_SUFFIX}"))

    def sent(self) -> list[Path]:
        """Kept sent message files, oldest first."""
        return sorted(self.sent_dir.glob(f"*{_SUFFIX}"))

    def failed(self) -> list[Path]:
        """Messages the server refused for good, oldest first."""
        return sorted(self.failed_dir.glob(f"*{_SUFFIX}"))

    @staticmethod
    def load(path: Path) -> EmailMessage:
        """Read a stored message back."""
        with open(path, "rb") as handle:
            message = BytesParser(policy=policy.default).parse(handle)
        assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
        return message

    def mark_sent(self, path: Path) -> None:
        """Move an accepted message to ``sent/`` (or delete it when nothing is kept)."""
        if self.keep_sent == 0:
            path.unlink()
            fsync_dir(path.parent)
            return
        os.replace(path, self.sent_dir / path.name)
        fsync_dir(self.queue_dir)
        for old in self.sent()[: -self.keep_sent]:
            old.unlink()

    def mark_failed(self, path: Path, reason: str) -> None:
        """Move a refused message to ``failed/`` with the reason beside it."""
        atomic_write(self.failed_dir / f"{path.stem}.reason", reason.encode("utf-8") + b"\n")
        os.replace(path, self.failed_dir / path.name)
        fsync_dir(self.queue_dir)

    @contextlib.contextmanager
    def sender_lock(self) -> Iterator[bool]:
        """Hold the outbox's sender lock (flock); yields False when another process holds it.

        Two processes draining one queue (``siem run`` and ``siem email send``) would send
        messages twice; the lock makes the second one wait for the next turn.
        """
        with open(self.root / "sender.lock", "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _dirs(self) -> tuple[Path, ...]:
        return (self.queue_dir, self.sent_dir, self.failed_dir)

    def _next_sequence(self) -> int:
        """One more than any sequence seen, remembered in ``sequence`` so pruning cannot lower it."""
        counter = self.root / "sequence"
        highest = 0
        if counter.exists():
            text = counter.read_text(encoding="ascii").strip()
            highest = int(text) if text.isdigit() else 0
        for directory in self._dirs():
            for name in os.listdir(directory):
                head = name.partition("-")[0]
                if name.endswith(_SUFFIX) and head.isdigit():
                    highest = max(highest, int(head))
        atomic_write(counter, str(highest + 1).encode("ascii"))
        return highest + 1
