"""Verify a store's integrity seals: the chain, each batch's rows, retention, and the head.

``verify(store)`` walks every seal (cheap: one row per batch) and recomputes the chain; it
recomputes the digest of each event batch sealed at or after ``since`` (all when None) and of
every audit batch; it checks that each retention removal looks like retention (nothing older
than its boundary survives), that the number of stored events matches the seals (over the whole
store, whatever ``since``), and that the chain reaches the head recorded beside the store (and an
external anchor when given). What it can and cannot prove is written in
siem/store/sqlite/seals.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from siem.errors import StoreError
from siem.i18n import _
from siem.integrity.anchor import Anchor
from siem.integrity.chain import AUDIT, EVENTS, GENESIS, RETENTION, Seal, batch_digest, link

#: Problems listed in full (the first one is what matters; the count is always given).
MAX_PROBLEMS = 100
#: Indices retired by the lifecycle policy named one per line in the text output.
MAX_RETIRED_LINES = 10


class SealReader(Protocol):
    """What verification reads from a store, inside one consistent snapshot."""

    def last(self) -> Seal | None: ...
    def seals(self) -> list[Seal]: ...
    def event_hashes(self, first: int, last: int) -> list[tuple[int, bytes]]: ...
    def audit_hashes(self, first: int, last: int) -> list[bytes]: ...
    def retention_violation(self, seal: Seal, before: tuple[int, int], through: int) -> str | None: ...
    def sealed_event_count(self) -> tuple[int, int]: ...
    def unsealed(self) -> tuple[int, int]: ...
    def head(self) -> Anchor | None: ...


@runtime_checkable
class SealedStore(Protocol):
    """A store that seals its batches by row number (the SQLite store; for the Elasticsearch
    store see ``siem.integrity.documents``)."""

    def integrity_snapshot(self) -> AbstractContextManager[SealReader]: ...


@dataclass(frozen=True, slots=True)
class Broken:
    """A seal whose rows or chain value do not check out, and why."""

    seal: int
    kind: str
    first: int | None
    last: int | None
    sealed_at: float | None
    reason: str

    def describe(self) -> str:
        """One line: which batch, when it was sealed, and why it is broken."""
        what = {EVENTS: _("events"), AUDIT: _("audit entries"), RETENTION: _("retention")}.get(self.kind, self.kind)
        span = f" {what} {self.first}–{self.last}" if self.first is not None else f" {what}"
        when = _(", sealed {time}").format(time=_time(self.sealed_at)) if self.sealed_at is not None else ""
        return _("seal {seal} ({span}{when}): {reason}").format(
            seal=self.seal, span=span.strip(), when=when, reason=self.reason)

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON-ready data."""
        return {"seal": self.seal, "kind": self.kind, "first": self.first, "last": self.last,
                "sealed_at": self.sealed_at, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class LifecycleRetirement:
    """A deleted index whose sealed events were all older than the lifecycle's delete age."""

    index: str
    batches: int
    events: int
    #: When its newest sealed events were written (Unix time).
    newest: float

    def to_dict(self) -> dict[str, Any]:
        """The retirement as JSON-ready data."""
        return {"index": self.index, "batches": self.batches, "events": self.events, "newest_written": self.newest}


@dataclass(slots=True)
class VerifyResult:
    """The outcome of a verification."""

    seals: int = 0
    batches_checked: int = 0
    events_checked: int = 0
    audit_checked: int = 0
    batches_retired: int = 0
    unsealed_audit: int = 0
    head: Anchor | None = None
    problems: list[Broken] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Indices deleted by the lifecycle policy (Elasticsearch), their batches counted in ``batches_retired``.
    retired_indices: list[LifecycleRetirement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is broken."""
        return self.problem_count == 0

    @property
    def first_broken(self) -> Broken | None:
        """The broken seal earliest in the chain."""
        return min(self.problems, key=lambda item: item.seal) if self.problems else None

    def add(self, problem: Broken) -> None:
        """Record a problem (all are counted; the first MAX_PROBLEMS are kept)."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        first = self.first_broken
        return {
            "ok": self.ok,
            "seals": self.seals,
            "batches_checked": self.batches_checked,
            "events_checked": self.events_checked,
            "audit_entries_checked": self.audit_checked,
            "batches_retired": self.batches_retired,
            "retired_by_lifecycle": [item.to_dict() for item in self.retired_indices],
            "unsealed_audit_entries": self.unsealed_audit,
            "head": None if self.head is None else {
                "seal": self.head.seal, "chain": self.head.chain.hex(), "sealed_at": self.head.sealed_at},
            "first_broken": None if first is None else first.to_dict(),
            "problem_count": self.problem_count,
            "problems": [item.to_dict() for item in sorted(self.problems, key=lambda item: item.seal)],
            "warnings": self.warnings,
        }


def _time(moment: float | None) -> str:
    if moment is None:
        return "?"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _broken(seal: Seal, reason: str) -> Broken:
    return Broken(seal.id, seal.kind, seal.first, seal.last, seal.sealed_at, reason)


def verify(store: object, *, since: float | None = None, anchor: Anchor | None = None) -> VerifyResult:
    """Check the store's seals; ``since`` limits the (costly) event digests to batches sealed
    from then on, ``anchor`` is a head recorded elsewhere that the chain must still reach."""
    from siem.integrity.documents import DocumentSealedStore, verify_documents

    if isinstance(store, DocumentSealedStore):
        return verify_documents(store, since=since, anchor=anchor)
    if not isinstance(store, SealedStore):
        backend = getattr(store, "backend", type(store).__name__)
        raise StoreError(_("log integrity verification is not supported on the {backend} store; "
                           "use the SQLite store to get sealed, verifiable logs").format(backend=backend))
    result = VerifyResult()
    with store.integrity_snapshot() as reader:
        seals = reader.seals()
        result.seals = len(seals)
        retired, retired_broken = _walk_chain(seals, result)
        for seal in seals:
            _check_contents(reader, seal, since, retired, retired_broken, result)
        _check_counts(reader, seals, retired, result)
        check_head_and_anchor(seals, reader.head(), anchor, result)
        result.unsealed_audit = reader.unsealed()[1]
    if not seals:
        result.warnings.append(_("nothing is sealed yet: seals are made as events are stored"))
    return result


def current_head(store: object) -> Anchor | None:
    """The store's newest seal as an anchor, without verifying anything (cheap): print it in
    reports and e-mails so that a later ``siem verify --anchor`` can compare. None when the
    store seals nothing (yet, or at all)."""
    from siem.integrity.documents import DocumentSealedStore

    if isinstance(store, DocumentSealedStore):
        return store.document_seal_reader().newest()
    if not isinstance(store, SealedStore):
        return None
    with store.integrity_snapshot() as reader:
        last = reader.last()
    return None if last is None else Anchor(last.id, last.chain, last.sealed_at)


def _walk_chain(seals: list[Seal], result: VerifyResult) -> tuple[dict[int, int], set[int]]:
    """Check ids, chain values and ranges; returns retired batch -> retention seal, and the
    retired batches retention found altered."""
    previous, expected = GENESIS, 1
    next_first = {EVENTS: 1, AUDIT: 1}
    retired: dict[int, int] = {}
    retired_broken: set[int] = set()
    for seal in seals:
        if seal.id != expected:
            result.add(_broken(seal, _("seals {first}–{last} are missing").format(first=expected, last=seal.id - 1)))
        if link(previous, seal) != seal.chain:
            result.add(_broken(seal, _("the seal does not match the chain: it or the seal before it was edited")))
        previous, expected = seal.chain, seal.id + 1
        if seal.kind in next_first:
            if seal.first != next_first[seal.kind]:
                result.add(_broken(seal, _("the range does not follow the previous seal's (expected to start "
                                           "at {first})").format(first=next_first[seal.kind])))
            next_first[seal.kind] = seal.last + 1
        elif seal.kind == RETENTION:
            meta = _meta(seal, result)
            for first, last in meta.get("retired", []):
                for ident in range(int(first), int(last) + 1):
                    retired[ident] = seal.id
            retired_broken.update(int(ident) for ident in meta.get("broken", []))
        else:
            result.add(_broken(seal, _("unknown seal kind {kind!r}").format(kind=seal.kind)))
    return retired, retired_broken


def _meta(seal: Seal, result: VerifyResult) -> dict[str, Any]:
    try:
        meta = json.loads(seal.meta)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        result.add(_broken(seal, _("the seal's details are unreadable")))
        return {}
    return meta


def _check_contents(reader: SealReader, seal: Seal, since: float | None, retired: dict[int, int],
                    retired_broken: set[int], result: VerifyResult) -> None:
    if seal.kind == EVENTS:
        if seal.id in retired:
            result.batches_retired += 1
            if seal.id in retired_broken:
                result.add(_broken(seal, _("the events had been altered when retention removed them "
                                           "(retention seal {retention})").format(retention=retired[seal.id])))
            return
        if since is not None and seal.sealed_at < since:
            return
        found = reader.event_hashes(seal.first, seal.last)
        result.batches_checked += 1
        result.events_checked += len(found)
        _compare(seal, [digest for _, digest in found], result)
    elif seal.kind == AUDIT:
        hashes = reader.audit_hashes(seal.first, seal.last)
        result.batches_checked += 1
        result.audit_checked += len(hashes)
        _compare(seal, hashes, result)
    elif seal.kind == RETENTION:
        meta = _meta(seal, VerifyResult())  # an unreadable one is reported by _walk_chain
        before, through = meta.get("before"), meta.get("through")
        if not (isinstance(before, list) and len(before) == 2 and isinstance(through, int)):
            result.add(_broken(seal, _("the retention seal lacks its boundary")))
            return
        reason = reader.retention_violation(seal, (int(before[0]), int(before[1])), through)
        if reason is not None:
            result.add(_broken(seal, _("this removal does not look like retention: {reason}").format(reason=reason)))


def _compare(seal: Seal, hashes: list[bytes], result: VerifyResult) -> None:
    if len(hashes) < seal.count:
        result.add(_broken(seal, _("{missing} of {count} rows are missing").format(
            missing=seal.count - len(hashes), count=seal.count)))
    elif len(hashes) > seal.count:
        result.add(_broken(seal, _("{extra} rows were added to the {count} sealed").format(
            extra=len(hashes) - seal.count, count=seal.count)))
    elif batch_digest(seal.kind, hashes) != seal.digest:
        result.add(_broken(seal, _("rows were changed (the digest differs)")))


def _check_counts(reader: SealReader, seals: list[Seal], retired: dict[int, int], result: VerifyResult) -> None:
    """Stored events against the seals' counts, over the whole store (whatever ``since``)."""
    stored, removed = reader.sealed_event_count()
    expected = sum(seal.count for seal in seals if seal.kind == EVENTS and seal.id not in retired) - removed
    last = seals[-1] if seals else None
    if stored != expected and not result.problem_count and last is not None:
        result.add(_broken(last, _("the store holds {stored} sealed events, the seals say {expected}: run "
                                   "without --since to find the batch").format(stored=stored, expected=expected)))
    unsealed, _audit = reader.unsealed()
    if unsealed and last is not None:
        result.add(Broken(last.id + 1, EVENTS, None, None, None,
                          _("{count} events are stored after the last seal without one").format(count=unsealed)))


def check_head_and_anchor(seals: list[Seal], head: Anchor | None, anchor: Anchor | None, result: VerifyResult) -> None:
    """Set the result's head from the newest seal and check it against the head file and an anchor."""
    last = seals[-1] if seals else None
    result.head = None if last is None else Anchor(last.id, last.chain, last.sealed_at)
    if head is None and seals:
        result.warnings.append(_("no head file beside the store: removal of the newest batches "
                                 "cannot be detected (it is written again at the next sealed write)"))
    check_anchor(head, seals, _("the head file"), result)
    check_anchor(anchor, seals, _("the anchor"), result)


def check_anchor(anchor: Anchor | None, seals: list[Seal], what: str, result: VerifyResult) -> None:
    """Report when ``anchor`` (the head file, or one kept elsewhere) is not reached by ``seals``."""
    if anchor is None:
        return
    newest = seals[-1].id if seals else 0
    if anchor.seal > newest:
        result.add(Broken(newest + 1, "", None, None, anchor.sealed_at, _(
            "{what} records seal {seal}, but the store ends at seal {newest}: the newest batches "
            "were removed").format(what=what, seal=anchor.seal, newest=newest)))
        return
    seal = next((item for item in reversed(seals) if item.id == anchor.seal), None)
    if seal is None or seal.chain != anchor.chain:
        result.add(Broken(anchor.seal, seal.kind if seal else "", seal.first if seal else None,
                          seal.last if seal else None, anchor.sealed_at,
                          _("the chain differs from {what}: the seals up to here were rewritten").format(what=what)))


def iter_lines(result: VerifyResult) -> Iterator[str]:
    """Human-readable lines of a result (the verdict first)."""
    first = result.first_broken
    if first is not None:
        yield _("BROKEN: {problem}").format(problem=first.describe())
        if result.problem_count > 1:
            yield _("({count} problems in all; --json lists them)").format(count=result.problem_count)
    else:
        yield _("OK: {seals} seals, {batches} batches checked ({events} events, {audit} audit entries), "
                "{retired} batches removed by retention").format(
            seals=result.seals, batches=result.batches_checked, events=result.events_checked,
            audit=result.audit_checked, retired=result.batches_retired)
    if result.retired_indices:
        yield _("{indices} indices deleted by the lifecycle policy after the delete age ({batches} batches, "
                "{events} events), oldest first:").format(
            indices=len(result.retired_indices), batches=sum(item.batches for item in result.retired_indices),
            events=sum(item.events for item in result.retired_indices))
        for item in result.retired_indices[:MAX_RETIRED_LINES]:
            yield _("  {index}: {batches} batches, {events} events, the newest written {time}").format(
                index=item.index, batches=item.batches, events=item.events, time=_time(item.newest))
        if len(result.retired_indices) > MAX_RETIRED_LINES:
            yield _("  and {count} more (--json lists them)").format(
                count=len(result.retired_indices) - MAX_RETIRED_LINES)
    if result.head is not None and result.ok:
        yield _("head: seal {seal} chain {chain} (record it to check later with --anchor)").format(
            seal=result.head.seal, chain=result.head.chain.hex())
    if result.unsealed_audit:
        yield _("{count} audit entries are not sealed yet (sealed with the next stored batch)").format(
            count=result.unsealed_audit)
    for warning in result.warnings:
        yield _("warning: {warning}").format(warning=warning)
