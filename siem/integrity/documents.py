"""Seals over documents addressed by id (the Elasticsearch store), and their verification.

A store without row numbers seals each batch by listing its members: for every document its
index, id, time (``siem_ts``, ms), write order (``siem_seq``) and row hash
(``chain.encode_document``). The list travels in the seal document (``members``); its SHA-256
is in the seal's ``meta`` (so the chain covers it) and the batch digest is
``chain.batch_digest(kind, member row hashes)`` as on SQLite. Verification re-reads each
member by index and id, names the first batch whose documents were changed or removed, checks
that removals recorded by retention seals look like retention, that the stored events match
the seals' counts, and that the chain reaches the head file and an anchor. The format of a
seal document is written in siem/store/elasticsearch/seals.py.

Whole indices deleted by the lifecycle policy (ILM, installed by ``siem es setup`` with a
delete phase of ``store.retention.max_age_days``) leave no seal behind. Sealed events whose
index no longer exists at all are "retired by the lifecycle policy" when every batch sealed
with events in that index was written more than the delete age (less ``LIFECYCLE_MARGIN``)
before now: the policy deletes an index that long after its rollover, and an index takes no
writes after it. A deleted index with a younger batch, or any deleted index while the store
has no delete age, is reported broken, naming the index. Missing documents inside an index
that still exists are never lifecycle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from siem.i18n import _
from siem.integrity.anchor import Anchor
from siem.integrity.chain import AUDIT, EVENTS, GENESIS, RETENTION, Seal, batch_digest, encode_mixed_row, link
from siem.integrity.verify import Broken, LifecycleRetirement, VerifyResult, check_head_and_anchor

#: Seals whose members are read in one request.
MEMBER_CHUNK = 20
#: Events after the newest seal younger than this (by write order) may be a write in progress.
IN_FLIGHT_NS = 10 * 60 * 1_000_000_000
#: Slack on the lifecycle's delete age: a write in flight at rollover, ILM's polling, clocks.
LIFECYCLE_MARGIN = 3600.0


@dataclass(frozen=True, slots=True)
class Member:
    """One sealed document: where it is, its time and write order, and its row hash."""

    index: str
    id: str
    ts: int
    seq: int
    hash: bytes


def members_field(members: Sequence[Member]) -> dict[str, Any]:
    """The ``members`` object of a seal document (indices listed once, hashes in one base64 text)."""
    indices: dict[str, int] = {}
    docs = [[indices.setdefault(item.index, len(indices)), item.id, item.ts, item.seq] for item in members]
    hashes = base64.b64encode(b"".join(item.hash for item in members)).decode("ascii")
    return {"indices": list(indices), "docs": docs, "hashes": hashes}


def members_digest(stored: dict[str, Any]) -> str:
    """SHA-256 (hex) of a ``members`` object, as the seal's meta records it."""
    canonical = encode_mixed_row([stored.get("indices"), stored.get("docs"), stored.get("hashes")])
    return hashlib.sha256(canonical).hexdigest()


def parse_members(stored: Any) -> list[Member]:
    """The members of a ``members`` object; ValueError when it is malformed."""
    try:
        indices, docs = list(stored["indices"]), list(stored["docs"])
        hashes = base64.b64decode(stored["hashes"], validate=True)
        if len(hashes) != 32 * len(docs):
            raise ValueError("one row hash per document expected")
        return [Member(str(indices[int(at)]), str(ident), int(ts), int(seq), hashes[32 * n : 32 * n + 32])
                for n, (at, ident, ts, seq) in enumerate(docs)]
    except (KeyError, TypeError, IndexError, binascii.Error) as exc:
        raise ValueError(str(exc)) from exc


@dataclass(slots=True)
class Retention:
    """What a retention seal says it removed: events with (ts, seq) up to ``before`` among
    those sealed up to ``through``; ``removed`` of them were sealed."""

    seal: Seal
    before: tuple[int, int]
    through: int
    removed: int


class DocumentSealReader(Protocol):
    """What verification reads from a store that seals documents by id."""

    def headers(self) -> list[Seal]: ...
    def members(self, seal_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def document_hashes(self, members: Sequence[Member]) -> list[bytes | None]: ...
    def member_indices(self, seal_ids: Sequence[int]) -> dict[int, list[str]]: ...
    def existing_indices(self, names: Sequence[str]) -> set[str]: ...
    def lifecycle_delete_days(self) -> int: ...
    def retention_violation(self, before: tuple[int, int], through: int) -> str | None: ...
    def count_events(self, first: int, last: int) -> int: ...
    def events_before(self, first: int) -> int: ...
    def events_after(self, last: int) -> list[int]: ...
    def events_without_seq(self) -> int: ...
    def audit_count(self) -> int: ...
    def head(self) -> Anchor | None: ...
    def newest(self) -> Anchor | None: ...


@runtime_checkable
class DocumentSealedStore(Protocol):
    """A store that seals documents by id (the Elasticsearch store)."""

    def document_seal_reader(self) -> DocumentSealReader: ...


@dataclass(slots=True)
class _Gone:
    """Sealed events (not removed by retention) of an index that no longer exists."""

    first: Seal
    newest: float = 0.0
    batches: int = 0
    events: int = 0


@dataclass(slots=True)
class _Walk:
    retentions: list[Retention] = field(default_factory=list)
    metas: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Whether each index named by an events seal exists (asked once per index).
    exists: dict[str, bool] = field(default_factory=dict)
    gone: dict[str, _Gone] = field(default_factory=dict)
    #: Checked batches left with nothing but events in deleted indices, by those indices.
    only_gone: dict[frozenset[str], int] = field(default_factory=dict)


def _broken(seal: Seal, reason: str) -> Broken:
    first = seal.first if seal.kind != RETENTION else None
    return Broken(seal.id, seal.kind, first, seal.last if first is not None else None, seal.sealed_at, reason)


def verify_documents(store: DocumentSealedStore, *, since: float | None = None,
                     anchor: Anchor | None = None, now: float | None = None) -> VerifyResult:
    """Check a document-sealing store's chain, batches, retention, lifecycle deletions, counts
    and head, as of ``now`` (the current time when None)."""
    moment = time.time() if now is None else now
    reader = store.document_seal_reader()
    result = VerifyResult()
    head = reader.head()  # first: a head never runs ahead of the seals read after it
    seals = reader.headers()
    result.seals = len(seals)
    walk = _walk_chain(seals, result)
    _check_members(reader, seals, since, walk, result)
    _judge_lifecycle(reader.lifecycle_delete_days(), moment, walk, result)
    for retention in walk.retentions:
        reason = reader.retention_violation(retention.before, retention.through)
        if reason is not None:
            result.add(_broken(retention.seal, _("this removal does not look like retention: {reason}").format(
                reason=reason)))
    _check_counts(reader, seals, walk, result, moment)
    check_head_and_anchor(seals, head, anchor, result)
    if not seals:
        result.warnings.append(_("nothing is sealed yet: seals are made as events are stored"))
    return result


def _walk_chain(seals: list[Seal], result: VerifyResult) -> _Walk:
    walk = _Walk()
    previous, expected = GENESIS, 1
    for seal in seals:
        if seal.id != expected:
            result.add(_broken(seal, _("seals {first}–{last} are missing").format(first=expected, last=seal.id - 1)))
        if link(previous, seal) != seal.chain:
            result.add(_broken(seal, _("the seal does not match the chain: it or the seal before it was edited")))
        previous, expected = seal.chain, seal.id + 1
        try:
            meta = json.loads(seal.meta)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            result.add(_broken(seal, _("the seal's details are unreadable")))
            meta = {}
        walk.metas[seal.id] = meta
        if seal.kind == RETENTION:
            before, through, removed = meta.get("before"), meta.get("through"), meta.get("removed")
            if not (isinstance(before, list) and len(before) == 2 and isinstance(through, int)
                    and isinstance(removed, int)):
                result.add(_broken(seal, _("the retention seal lacks its boundary")))
                continue
            walk.retentions.append(Retention(seal, (int(before[0]), int(before[1])), through, removed))
        elif seal.kind not in (EVENTS, AUDIT):
            result.add(_broken(seal, _("unknown seal kind {kind!r}").format(kind=seal.kind)))
    return walk


def _check_members(reader: DocumentSealReader, seals: list[Seal], since: float | None, walk: _Walk,
                   result: VerifyResult) -> None:
    """Check the batches sealed from ``since`` on; of older event batches, only note the events
    sealed in deleted indices (the count check needs them)."""
    sealed = [seal for seal in seals if seal.kind in (EVENTS, AUDIT)]
    for start in range(0, len(sealed), MEMBER_CHUNK):
        chunk = sealed[start : start + MEMBER_CHUNK]
        older = [seal for seal in chunk if seal.kind == EVENTS and since is not None and seal.sealed_at < since]
        wanted = [seal for seal in chunk if seal.kind == AUDIT or since is None or seal.sealed_at >= since]
        stored = reader.members([seal.id for seal in wanted])
        for seal in wanted:
            members = _members_of(seal, stored.get(seal.id), walk.metas.get(seal.id, {}), result)
            if members is not None:
                _check_batch(reader, seal, members, walk, result)
        if older:
            _note_older(reader, older, walk)


def _gone_indices(reader: DocumentSealReader, names: set[str], walk: _Walk) -> set[str]:
    """Those of ``names`` that no longer exist (each index asked about once)."""
    unknown = sorted(name for name in names if name not in walk.exists)
    if unknown:
        existing = reader.existing_indices(unknown)
        walk.exists.update((name, name in existing) for name in unknown)
    return {name for name in names if not walk.exists[name]}


def _note_older(reader: DocumentSealReader, older: list[Seal], walk: _Walk) -> None:
    """For event batches not checked (sealed before ``since``): their events in deleted indices."""
    listed = reader.member_indices([seal.id for seal in older])
    touched = [seal for seal in older if _gone_indices(reader, set(listed.get(seal.id, [])), walk)]
    if not touched:
        return
    stored = reader.members([seal.id for seal in touched])
    for seal in touched:
        # A damaged list is reported by a run without --since (the count check points there).
        members = _members_of(seal, stored.get(seal.id), walk.metas.get(seal.id, {}), VerifyResult())
        if members is not None:
            gone = _gone_indices(reader, {item.index for item in members}, walk)
            _note_gone(seal, [item for item in members if item.index in gone
                              and not _retired(item, seal, walk.retentions)], walk)


def _written(seal: Seal) -> float:
    """When an events batch was written: its newest write order (ns) or, if earlier, its seal time."""
    return min(seal.sealed_at, seal.last / 1e9)


def _note_gone(seal: Seal, members: list[Member], walk: _Walk) -> None:
    """Record ``members`` of ``seal`` as sealed events of indices that no longer exist."""
    for index in {item.index for item in members}:
        gone = walk.gone.get(index)
        if gone is None:
            gone = walk.gone[index] = _Gone(seal)
        elif seal.id < gone.first.id:
            gone.first = seal
        gone.newest = max(gone.newest, _written(seal))
        gone.batches += 1
        gone.events += sum(1 for item in members if item.index == index)


def _members_of(seal: Seal, stored: dict[str, Any] | None, meta: dict[str, Any],
                result: VerifyResult) -> list[Member] | None:
    if stored is None:
        result.add(_broken(seal, _("the seal's list of documents is missing")))
        return None
    if members_digest(stored) != meta.get("members"):
        result.add(_broken(seal, _("the seal's list of documents was edited")))
        return None
    try:
        members = parse_members(stored)
    except ValueError:
        result.add(_broken(seal, _("the seal's list of documents is unreadable")))
        return None
    if len(members) != seal.count or batch_digest(seal.kind, [item.hash for item in members]) != seal.digest:
        result.add(_broken(seal, _("the seal's list of documents does not match its digest")))
        return None
    return members


def _retired(member: Member, seal: Seal, retentions: list[Retention]) -> bool:
    return any(item.seal.id > seal.id and member.seq <= item.through and (member.ts, member.seq) <= item.before
               for item in retentions)


def _check_batch(reader: DocumentSealReader, seal: Seal, members: list[Member], walk: _Walk,
                 result: VerifyResult) -> None:
    gone = _gone_indices(reader, {item.index for item in members}, walk) if seal.kind == EVENTS else set()
    found = iter(reader.document_hashes([item for item in members if item.index not in gone]))
    missing: list[Member] = []
    changed: list[Member] = []
    deleted: list[Member] = []
    retired = 0
    for member in members:
        digest = None if member.index in gone else next(found)
        if digest is None:
            if seal.kind == EVENTS and _retired(member, seal, walk.retentions):
                retired += 1
            elif member.index in gone:
                deleted.append(member)
            else:
                missing.append(member)
        elif digest != member.hash:
            changed.append(member)
    _note_gone(seal, deleted, walk)
    if retired == len(members):
        result.batches_retired += 1
        return
    if retired + len(deleted) == len(members):  # retired or not: known once every batch is read
        key = frozenset(item.index for item in deleted)
        walk.only_gone[key] = walk.only_gone.get(key, 0) + 1
        return
    result.batches_checked += 1
    present = len(members) - len(missing) - retired - len(deleted)
    if seal.kind == EVENTS:
        result.events_checked += present
    else:
        result.audit_checked += present
    if changed:
        result.add(_broken(seal, _("document {id} in {index} was changed ({count} of {total} in the batch)").format(
            id=changed[0].id, index=changed[0].index, count=len(changed), total=len(members))))
    if missing:
        result.add(_broken(seal, _("{missing} of {count} documents are missing (first: {id} in {index})").format(
            missing=len(missing), count=len(members), id=missing[0].id, index=missing[0].index)))


def _judge_lifecycle(delete_days: int, now: float, walk: _Walk, result: VerifyResult) -> None:
    """Deleted indices: retired by the lifecycle policy when all their events are old enough."""
    retired: set[str] = set()
    for index, gone in sorted(walk.gone.items(), key=lambda item: (item[1].first.id, item[0])):
        details = {"index": index, "events": gone.events, "batches": gone.batches}
        if delete_days <= 0:
            result.add(_broken(gone.first, _(
                "index {index} no longer exists ({events} sealed events in {batches} batches) and this store "
                "has no lifecycle delete age (store.retention.max_age_days is 0): it was deleted outside "
                "siem").format(**details)))
        elif gone.newest > now - delete_days * 86400 + LIFECYCLE_MARGIN:
            result.add(_broken(gone.first, _(
                "index {index} no longer exists ({events} sealed events in {batches} batches), but events in it "
                "were written {written}, less than the lifecycle's {days} days ago: it was deleted outside the "
                "lifecycle policy").format(written=_when(gone.newest), days=delete_days, **details)))
        else:
            retired.add(index)
            result.retired_indices.append(LifecycleRetirement(index, gone.batches, gone.events, gone.newest))
    for indices, count in walk.only_gone.items():
        if indices <= retired:
            result.batches_retired += count
        else:
            result.batches_checked += count


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_counts(reader: DocumentSealReader, seals: list[Seal], walk: _Walk, result: VerifyResult,
                  moment: float) -> None:
    """Stored events against the seals' counts, over the whole store (whatever ``since``); the
    events of deleted indices are reported by ``_judge_lifecycle``, so not counted here."""
    events = [seal for seal in seals if seal.kind == EVENTS]
    last = seals[-1] if seals else None
    if events and last is not None:
        first, through = min(seal.first for seal in events), max(seal.last for seal in events)
        expected = (sum(seal.count for seal in events) - sum(item.removed for item in walk.retentions)
                    - sum(gone.events for gone in walk.gone.values()))
        stored = reader.count_events(first, through)
        if stored != expected and not result.problem_count:
            result.add(_broken(last, _("the store holds {stored} sealed events, the seals say {expected}: run "
                                       "without --since to find the batch").format(stored=stored, expected=expected)))
        before = reader.events_before(first)
        if before:
            result.warnings.append(_("{count} events stored before sealing began are not covered by a seal").format(
                count=before))
        after = reader.events_after(through)
        now = int(moment * 1e9)
        recent = [seq for seq in after if now - IN_FLIGHT_NS <= seq <= now + IN_FLIGHT_NS]
        if len(after) > len(recent):
            result.add(Broken(last.id + 1, EVENTS, None, None, None, _(
                "{count} events are stored after the last seal without one").format(count=len(after) - len(recent))))
        unordered = reader.events_without_seq()
        if unordered:
            result.add(Broken(last.id + 1, EVENTS, None, None, None, _(
                "{count} events have no write order (siem_seq): they were added outside siem").format(
                count=unordered)))
        if recent:
            result.warnings.append(_("{count} events written in the last minutes are not sealed yet (a write in "
                                     "progress?)").format(count=len(recent)))
    sealed_audit = sum(seal.count for seal in seals if seal.kind == AUDIT)
    result.unsealed_audit = max(0, reader.audit_count() - sealed_audit)

