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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from siem.i18n import _
from siem.integrity.anchor import Anchor
from siem.integrity.chain import AUDIT, EVENTS, GENESIS, RETENTION, Seal, batch_digest, encode_mixed_row, link
from siem.integrity.verify import Broken, VerifyResult, check_anchor

#: Seals whose members are read in one request.
MEMBER_CHUNK = 20
#: Events after the newest seal younger than this (by write order) may be a write in progress.
IN_FLIGHT_NS = 10 * 60 * 1_000_000_000


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
class _Walk:
    retentions: list[Retention] = field(default_factory=list)
    metas: dict[int, dict[str, Any]] = field(default_factory=dict)


def _broken(seal: Seal, reason: str) -> Broken:
    first = seal.first if seal.kind != RETENTION else None
    return Broken(seal.id, seal.kind, first, seal.last if first is not None else None, seal.sealed_at, reason)


def verify_documents(store: DocumentSealedStore, *, since: float | None = None,
                     anchor: Anchor | None = None) -> VerifyResult:
    """Check a document-sealing store's chain, batches, retention, counts and head."""
    reader = store.document_seal_reader()
    result = VerifyResult()
    head = reader.head()  # first: a head never runs ahead of the seals read after it
    seals = reader.headers()
    result.seals = len(seals)
    walk = _walk_chain(seals, result)
    _check_members(reader, seals, since, walk, result)
    for retention in walk.retentions:
        reason = reader.retention_violation(retention.before, retention.through)
        if reason is not None:
            result.add(_broken(retention.seal, _("this removal does not look like retention: {reason}").format(
                reason=reason)))
    _check_counts(reader, seals, walk, result)
    last = seals[-1] if seals else None
    result.head = None if last is None else Anchor(last.id, last.chain, last.sealed_at)
    if head is None and seals:
        result.warnings.append(_("no head file beside the store: removal of the newest batches "
                                 "cannot be detected (it is written again at the next sealed write)"))
    check_anchor(head, seals, _("the head file"), result)
    check_anchor(anchor, seals, _("the anchor"), result)
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
    wanted = [seal for seal in seals if seal.kind == AUDIT
              or (seal.kind == EVENTS and (since is None or seal.sealed_at >= since))]
    for start in range(0, len(wanted), MEMBER_CHUNK):
        chunk = wanted[start : start + MEMBER_CHUNK]
        stored = reader.members([seal.id for seal in chunk])
        for seal in chunk:
            members = _members_of(seal, stored.get(seal.id), walk.metas.get(seal.id, {}), result)
            if members is not None:
                _check_batch(reader, seal, members, walk.retentions, result)


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


def _check_batch(reader: DocumentSealReader, seal: Seal, members: list[Member], retentions: list[Retention],
                 result: VerifyResult) -> None:
    found = reader.document_hashes(members)
    missing: list[Member] = []
    changed: list[Member] = []
    retired = 0
    for member, digest in zip(members, found, strict=True):
        if digest is None:
            if seal.kind == EVENTS and _retired(member, seal, retentions):
                retired += 1
            else:
                missing.append(member)
        elif digest != member.hash:
            changed.append(member)
    if retired == len(members):
        result.batches_retired += 1
        return
    result.batches_checked += 1
    present = len(members) - len(missing) - retired
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


def _check_counts(reader: DocumentSealReader, seals: list[Seal], walk: _Walk, result: VerifyResult) -> None:
    """Stored events against the seals' counts, over the whole store (whatever ``since``)."""
    events = [seal for seal in seals if seal.kind == EVENTS]
    last = seals[-1] if seals else None
    if events and last is not None:
        first, through = min(seal.first for seal in events), max(seal.last for seal in events)
        expected = sum(seal.count for seal in events) - sum(item.removed for item in walk.retentions)
        stored = reader.count_events(first, through)
        if stored != expected and not result.problem_count:
            result.add(_broken(last, _("the store holds {stored} sealed events, the seals say {expected}: run "
                                       "without --since to find the batch").format(stored=stored, expected=expected)))
        before = reader.events_before(first)
        if before:
            result.warnings.append(_("{count} events stored before sealing began are not covered by a seal").format(
                count=before))
        after = reader.events_after(through)
        now = time.time_ns()
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

