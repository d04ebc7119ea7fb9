"""Integrity seals of the Elasticsearch store: a SHA-256 hash chain in ``<prefix>-seals``.

After the cluster acknowledged a ``write()``'s events, one ``events`` seal covers the events it
created; each audit entry gets an ``audit`` seal once written; retention appends a
``retention`` seal saying what it removed. A seal is one document, its id the seal number:

    {"seal": 42, "kind": "events", "first": <lowest siem_seq>, "last": <highest siem_seq>,
     "count": 1000, "sealed_at": 1764000000.5, "meta": "{\\"members\\":\\"<sha256 hex>\\"}",
     "digest": "<hex>", "chain": "<hex>",
     "members": {"indices": ["siem-events-linux.auth"], "docs": [[0, "<id>", <siem_ts>, <siem_seq>], ...],
                 "hashes": "<base64 of the 32-byte row hashes, in the order of docs>"}}

Row hash, digest and chain are those of siem/integrity/chain.py (``encode_document`` over
``[index, id, source]``, ``batch_digest`` over the members' row hashes, ``link``), so the
chain covers every header field and, through ``meta``, the member list
(siem/integrity/documents.py). A retention seal has no members; its meta is
``{"before": [siem_ts, siem_seq], "through": <siem_seq>, "removed": n}``: the sealed events
up to ``through`` with (siem_ts, siem_seq) up to ``before`` are gone, ``removed`` of them
sealed. Seals are created with ``create`` and the next number as id, so two writers never
write the same link: the loser reads the winner's seal and chains after it.

Single writer of events: one process (``siem run``) writes events to a prefix; audit entries
may come from any process. A second concurrent writer of events is not refused, but its
events can be sealed twice (see replays below), which verification reports as a count
mismatch. The head (last seal and chain value) is written after each seal to a file in the
data directory (``store.elasticsearch.seal_head_file``); verification on a machine without
that file warns that removal of the newest batches cannot be told.

Replays: event ids are document ids and events are created, never overwritten, so a replayed
event is answered 409 and not sealed again (its first seal still covers its stored content).
Three cases are sealed late, over the content as stored then: an event answered 409 whose
stored ``siem_seq`` is this write's (a request retried after a lost answer); the events of a
write whose seal failed (sealed at the next write); and events stored after the newest seal
by an earlier process that stopped between writing and sealing (sealed, up to 10,000, at the
first write of the next process, as a batch whose meta says ``"recovered": true``).

Each batch's ``siem_seq`` values are followed by a gap of ``SEQ_GAP`` unused numbers, so
range queries on ``siem_seq`` separate batches even on a server that compares longs as
doubles (bounds are moved ``SLACK`` into the gap).

Limits: the chain is not keyed (as on SQLite, see siem/store/sqlite/seals.py: keep an anchor
off the machine); the seals index and the head file can be rewritten by whoever holds the
cluster's credentials and the data directory; whole indices deleted by the lifecycle policy
of ``siem es setup`` are not sealed: verification counts their events as retired when every
batch in them is older than ``store.retention.max_age_days`` (siem/integrity/documents.py),
and seals are never deleted, so the seals index grows with the life of the store; refused
events (the dead-letter index) are not sealed; verification reads without a snapshot, so a
retention run or a second writer during ``siem verify`` can make it report a removal or a count
mismatch that a second run does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from elasticsearch import ConflictError as EsConflictError
from elasticsearch import NotFoundError

from siem.errors import StoreError
from siem.integrity.anchor import Anchor, read_anchor, write_anchor
from siem.integrity.chain import AUDIT, EVENTS, GENESIS, RETENTION, Seal, batch_digest, encode_document, link, row_hash
from siem.integrity.documents import Member, members_digest, members_field
from siem.store.elasticsearch import mapping
from siem.store.elasticsearch.bulk import Action
from siem.store.elasticsearch.cluster import Cluster
from siem.store.elasticsearch.config import ElasticsearchConfig

log = logging.getLogger(__name__)

#: Unused ``siem_seq`` numbers after each batch (more than a double's step at 2**61: 256).
SEQ_GAP = 1024
#: Range bounds on ``siem_seq`` are moved this far into the gap (toward the documents they
#: leave out): the same documents on an exact server, and no batch cut by a rounded bound.
SLACK = SEQ_GAP // 2
#: The highest ``siem_seq`` (a boundary that leaves none out).
MAX_SEQ = 2**63 - 1
#: Documents read per request (mget, searches).
CHUNK = 1000
#: Searches of at most this many hits (Elasticsearch's default max_result_window).
PAGE = 10000
#: Index names asked about in one request (they travel in the URL).
INDEX_CHUNK = 50
#: Tries to append a seal while other writers append theirs.
RACE_ATTEMPTS = 100
HEAD_SUFFIX = ".es-seal-head"

_HEADER_FIELDS = ("seal", "kind", "first", "last", "count", "sealed_at", "meta", "digest", "chain")
_MAPPINGS: dict[str, Any] = {
    "dynamic": False,  # meta, digest, chain and members are kept in _source, not indexed
    "properties": {"seal": {"type": "long"}, "kind": {"type": "keyword"}, "first": {"type": "long"},
                   "last": {"type": "long"}, "count": {"type": "long"}, "sealed_at": {"type": "double"}},
}


def head_path(data_dir: Path, config: ElasticsearchConfig) -> Path:
    """Where the head of this store's chain is kept (``seal_head_file``, relative to the data dir)."""
    if config.seal_head_file:
        return data_dir / Path(config.seal_head_file).expanduser()
    return data_dir / f"{config.index_prefix}{HEAD_SUFFIX}"


def document_hash(index: str, ident: str, source: Mapping[str, Any]) -> bytes:
    """Row hash of a stored document (its concrete index, id and source)."""
    return row_hash(encode_document([index, ident, source]))


def seal_document(seal: Seal, members: dict[str, Any] | None) -> dict[str, Any]:
    """The document of a seal in the seals index."""
    document: dict[str, Any] = {
        "seal": seal.id, "kind": seal.kind, "first": seal.first, "last": seal.last, "count": seal.count,
        "sealed_at": seal.sealed_at, "meta": seal.meta, "digest": seal.digest.hex(), "chain": seal.chain.hex()}
    if members is not None:
        document["members"] = members
    return document


def parse_seal(source: Mapping[str, Any], ident: str = "") -> Seal:
    """The Seal of a seal document; a malformed one becomes a seal that cannot verify."""
    try:
        return Seal(id=int(source["seal"]), kind=str(source["kind"]), first=int(source["first"]),
                    last=int(source["last"]), count=int(source["count"]), sealed_at=float(source["sealed_at"]),
                    meta=str(source["meta"]), digest=bytes.fromhex(source["digest"]),
                    chain=bytes.fromhex(source["chain"]))
    except (KeyError, TypeError, ValueError):
        number = source.get("seal", ident)
        return Seal(id=int(number) if str(number).isdigit() else 0, kind=str(source.get("kind", "?")), first=0,
                    last=0, count=0, sealed_at=0.0, meta="", digest=b"", chain=b"")


def _meta(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), separators=(",", ":"), sort_keys=True)


class SealIndex:
    """Reads of the seals index shared by the writer and the reader."""

    def __init__(self, cluster: Cluster, names: mapping.IndexNames) -> None:
        self.cluster = cluster
        self.names = names

    def get(self, number: int) -> Seal | None:
        """Seal ``number`` read in real time (not waiting for a refresh), or None."""
        try:
            response = self.cluster.call("cannot read the integrity seals", self.cluster.client.get,
                                         index=self.names.seals, id=str(number), source_excludes=["members"])
        except StoreError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise
        return parse_seal(response["_source"], str(response["_id"]))

    def edge(self, *, newest: bool, kind: str | None = None) -> Seal | None:
        """The newest (or oldest) seal, of ``kind`` when given, as searchable now."""
        query: dict[str, Any] = {"term": {"kind": kind}} if kind else {"match_all": {}}
        response = self.cluster.call(
            "cannot read the integrity seals", self.cluster.client.search,
            index=self.names.seals, query=query, sort=[{"seal": "desc" if newest else "asc"}], size=1,
            source_excludes=["members"], ignore_unavailable=True, allow_no_indices=True)
        hits = response["hits"]["hits"]
        return parse_seal(hits[0]["_source"], str(hits[0]["_id"])) if hits else None

    def forward(self, seal: Seal | None) -> Iterator[Seal]:
        """The seals after ``seal``, read by id until one is missing (those not refreshed yet too)."""
        number = 1 if seal is None else seal.id + 1
        while (found := self.get(number)) is not None:
            yield found
            number += 1


class Sealer:
    """Appends the seals of one store (thread-safe; ``lock`` also holds off sealing during retention)."""

    def __init__(self, cluster: Cluster, names: mapping.IndexNames, config: ElasticsearchConfig,
                 head_file: Path | None) -> None:
        self.cluster = cluster
        self.names = names
        self.config = config
        self.head_file = head_file
        self.index = SealIndex(cluster, names)
        self.lock = threading.RLock()
        self._head: Seal | None = None
        self._loaded = False
        self._recovered = False
        self._index_ready = False
        #: Write order at the start of this process: later events are this process's own.
        self.started = time.time_ns()
        #: The ``siem_seq`` ranges of writes whose seal failed (sealed at the next write).
        self._failed: list[range] = []
        #: Lowest and highest ``siem_seq`` sealed in an events seal (None before the first).
        self.first: int | None = None
        self.through: int | None = None

    # -- state --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the newest seal and the sealed range of events once (under ``lock``)."""
        if self._loaded:
            return
        newest_events = self.index.edge(newest=True, kind=EVENTS)
        oldest_events = self.index.edge(newest=False, kind=EVENTS)
        if oldest_events is not None and newest_events is not None:
            self.first, self.through = oldest_events.first, newest_events.last
        head = self.index.edge(newest=True)
        for later in self.index.forward(head):
            head = later
            self._adopt(later)
        self._head = head
        self._loaded = True

    def _adopt(self, seal: Seal) -> None:
        if seal.kind == EVENTS:
            self.first = seal.first if self.first is None else min(self.first, seal.first)
            self.through = seal.last if self.through is None else max(self.through, seal.last)

    def _ensure_index(self) -> None:
        if self._index_ready:
            return
        client = self.cluster.client
        if not self.cluster.call("cannot check an index", client.indices.exists, index=self.names.seals):
            try:
                self.cluster.call(f"cannot create index {self.names.seals}", client.indices.create,
                                  index=self.names.seals, mappings=_MAPPINGS)
            except StoreError:
                if not self.cluster.call("cannot check an index", client.indices.exists, index=self.names.seals):
                    raise
        self._index_ready = True

    # -- sealing ------------------------------------------------------------------------------

    def seal_events(self, created: Sequence[tuple[Action, str]], conflicts: Sequence[Action],
                    batch: range) -> Seal | None:
        """Seal what a write created: ``created`` (action, concrete index), and those of
        ``conflicts`` whose stored ``siem_seq`` is in ``batch`` (this write's, answered 409
        after a retried request)."""
        members = [Member(index, action.id, int(action.document[mapping.TS_FIELD]),
                          int(action.document[mapping.SEQ_FIELD]), document_hash(index, action.id, action.document))
                   for action, index in created]
        if conflicts:
            members.extend(self._stored([action.id for action in conflicts], lambda seq: seq in batch))
        with self.lock:
            self.load()
            try:
                if not self._recovered:
                    self._recover(min(batch.start, self.started))
                    self._recovered = True
                while self._failed:
                    self._recover_range(self._failed[0])
                    self._failed.pop(0)
                return self._append(EVENTS, members, {}) if members else None
            except StoreError:
                self._failed.append(batch)
                raise

    def seal_audit(self, index: str, ident: str, document: Mapping[str, Any]) -> Seal:
        """Seal one audit entry just written."""
        member = Member(index, ident, 0, int(document["seq"]), document_hash(index, ident, document))
        with self.lock:
            self.load()
            return self._append(AUDIT, [member], {})

    def seal_retention(self, before: tuple[int, int], through: int, removed: int, deleted: int) -> Seal:
        """Record a removal by retention (call under ``lock``, after ``load``)."""
        meta = _meta({"before": list(before), "through": through, "removed": removed})
        return self._link(Seal(0, RETENTION, 0, through, deleted, 0.0, meta, batch_digest(RETENTION, []), b""), None)

    def _recover(self, below: int) -> None:
        """Seal events stored after the newest events seal by an earlier process that stopped
        before sealing them (those below ``below``: not this process's)."""
        through = self.through
        if through is None:
            return
        found = self._stored_query({"range": {mapping.SEQ_FIELD: {"gt": through + SLACK}}},
                                   lambda seq: through < seq < below)
        if found:
            log.warning("sealing %d events stored after the last seal without one (a stop between "
                        "writing and sealing)", len(found))
            self._append(EVENTS, found, {"recovered": True})

    def _recover_range(self, failed: range) -> None:
        """Seal the stored events of a write whose seal failed (unless that seal was made after all)."""
        for later in self.index.forward(self._head):
            self._head = later
            self._adopt(later)
        through = self.through
        bounds = {"gte": failed.start - SLACK, "lte": failed.stop + SLACK}
        found = self._stored_query({"range": {mapping.SEQ_FIELD: bounds}},
                                   lambda seq: seq in failed and (through is None or seq > through))
        if found:
            self._append(EVENTS, found, {"recovered": True})

    def _stored(self, ids: Sequence[str], keep: Any) -> list[Member]:
        members: list[Member] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            members.extend(self._stored_query({"ids": {"values": chunk}}, keep))
        return members

    def _stored_query(self, query: dict[str, Any], keep: Any) -> list[Member]:
        """Members for the stored events matching ``query`` whose seq ``keep`` accepts."""
        response = self.cluster.call(
            "cannot read events to seal them", self.cluster.client.search,
            index=self.names.events_pattern, query=query, size=PAGE,
            ignore_unavailable=True, allow_no_indices=True)
        members = []
        for hit in response["hits"]["hits"]:
            source = hit["_source"]
            seq = int(source.get(mapping.SEQ_FIELD, 0))
            if keep(seq):
                members.append(Member(str(hit["_index"]), str(hit["_id"]), int(source.get(mapping.TS_FIELD, 0)),
                                      seq, document_hash(str(hit["_index"]), str(hit["_id"]), source)))
        return members

    def _append(self, kind: str, members: list[Member], extra: Mapping[str, Any]) -> Seal:
        members.sort(key=lambda item: (item.seq, item.id))
        stored = members_field(members)
        meta = _meta({**extra, "members": members_digest(stored)})
        draft = Seal(0, kind, members[0].seq, members[-1].seq, len(members), 0.0, meta,
                     batch_digest(kind, [item.hash for item in members]), b"")
        return self._link(draft, stored)

    def _link(self, draft: Seal, stored: dict[str, Any] | None) -> Seal:
        """Append ``draft`` after the head (numbered, timed and chained here)."""
        self._ensure_index()
        for _ in range(RACE_ATTEMPTS):
            head = self._head
            number = 1 if head is None else head.id + 1
            seal = replace(draft, id=number, sealed_at=time.time())
            seal = replace(seal, chain=link(GENESIS if head is None else head.chain, seal))
            try:
                self.cluster.call("cannot write the integrity seal", self.cluster.client.create,
                                  index=self.names.seals, id=str(number), document=seal_document(seal, stored),
                                  refresh=self.config.refresh)
            except StoreError as exc:
                if not isinstance(exc.__cause__, EsConflictError):
                    raise
                winner = self.index.get(number)
                if winner is None:
                    raise
                self._head = winner
                self._adopt(winner)
                if winner == seal:  # ours, written by a request retried after a lost answer
                    break
                continue
            self._head = seal
            self._adopt(seal)
            break
        else:
            raise StoreError("other writers kept adding integrity seals; try again")
        self._record_head(self._head)
        return self._head

    def _record_head(self, head: Seal) -> None:
        if self.head_file is None:
            return
        try:
            write_anchor(self.head_file, Anchor(seal=head.id, chain=head.chain, sealed_at=head.sealed_at))
        except StoreError as exc:
            log.warning("%s", exc)


class EsSealReader:
    """What ``siem verify`` reads from the cluster (siem.integrity.documents.DocumentSealReader)."""

    def __init__(self, cluster: Cluster, names: mapping.IndexNames, head_file: Path | None,
                 lifecycle_delete_days: int = 0) -> None:
        self.cluster = cluster
        self.names = names
        self.head_file = head_file
        self.delete_days = lifecycle_delete_days
        self.index = SealIndex(cluster, names)

    def lifecycle_delete_days(self) -> int:
        """Age (days after rollover) at which the lifecycle policy deletes an events index; 0: never."""
        return self.delete_days

    def head(self) -> Anchor | None:
        """The head recorded in the data directory, if any."""
        return None if self.head_file is None else read_anchor(self.head_file)

    def newest(self) -> Anchor | None:
        """The newest seal as an anchor (cheap: no verification)."""
        head = self.index.edge(newest=True)
        for later in self.index.forward(head):
            head = later
        return None if head is None else Anchor(head.id, head.chain, head.sealed_at)

    def headers(self) -> list[Seal]:
        """Every seal without its members, in seal order."""
        seals: list[Seal] = []
        after: list[Any] | None = None
        while True:
            extra: dict[str, Any] = {} if after is None else {"search_after": after}
            response = self.cluster.call(
                "cannot read the integrity seals", self.cluster.client.search,
                index=self.names.seals, query={"match_all": {}}, sort=[{"seal": "asc"}], size=PAGE,
                source_excludes=["members"], ignore_unavailable=True, allow_no_indices=True, **extra)
            hits = response["hits"]["hits"]
            seals.extend(parse_seal(hit["_source"], str(hit["_id"])) for hit in hits)
            if len(hits) < PAGE:
                break
            after = hits[-1]["sort"]
        seals.extend(self.index.forward(seals[-1] if seals else None))
        return seals

    def members(self, seal_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The ``members`` objects of these seals (those that have one)."""
        if not seal_ids:
            return {}
        response = self.cluster.call(
            "cannot read the integrity seals", self.cluster.client.mget,
            index=self.names.seals, ids=[str(number) for number in seal_ids], source_includes=["members"])
        found: dict[int, dict[str, Any]] = {}
        for doc in response["docs"]:
            members = doc.get("_source", {}).get("members") if doc.get("found") else None
            if isinstance(members, dict):
                found[int(doc["_id"])] = members
        return found

    def member_indices(self, seal_ids: Sequence[int]) -> dict[int, list[str]]:
        """The indices listed in these seals' members (without the documents)."""
        if not seal_ids:
            return {}
        response = self.cluster.call(
            "cannot read the integrity seals", self.cluster.client.mget,
            index=self.names.seals, ids=[str(number) for number in seal_ids], source_includes=["members.indices"])
        found: dict[int, list[str]] = {}
        for doc in response["docs"]:
            members = doc.get("_source", {}).get("members") if doc.get("found") else None
            indices = members.get("indices") if isinstance(members, dict) else None
            if isinstance(indices, list):
                found[int(doc["_id"])] = [str(name) for name in indices]
        return found

    def existing_indices(self, names: Sequence[str]) -> set[str]:
        """Those of these concrete index names that exist now."""
        existing: set[str] = set()
        for start in range(0, len(names), INDEX_CHUNK):
            chunk = list(names[start : start + INDEX_CHUNK])
            response = self.cluster.call(
                "cannot check the sealed indices", self.cluster.client.indices.get,
                index=",".join(chunk), ignore_unavailable=True, allow_no_indices=True,
                filter_path="*.settings.index.uuid")  # not the mappings
            existing.update(name for name in chunk if name in response)
        return existing

    def document_hashes(self, members: Sequence[Member]) -> list[bytes | None]:
        """Row hashes of the members as stored now (None for one that is gone)."""
        hashes: list[bytes | None] = []
        for start in range(0, len(members), CHUNK):
            chunk = members[start : start + CHUNK]
            response = self.cluster.call(
                "cannot read the sealed documents", self.cluster.client.mget,
                docs=[{"_index": item.index, "_id": item.id} for item in chunk])
            for item, doc in zip(chunk, response["docs"], strict=True):
                error = doc.get("error")
                gone = isinstance(error, dict) and error.get("type") == "index_not_found_exception"
                if error is not None and not gone:
                    raise StoreError(f"cannot read sealed document {item.id} in {item.index}: {error}"
                                     f" (Elasticsearch at {self.cluster.hosts})")
                hashes.append(document_hash(str(doc["_index"]), str(doc["_id"]), doc["_source"])
                              if doc.get("found") else None)
        return hashes

    def retention_violation(self, before: tuple[int, int], through: int) -> str | None:
        """An event sealed up to ``through`` and not newer than ``before`` that is still stored."""
        response = self.cluster.call(
            "cannot check retention", self.cluster.client.search,
            index=self.names.events_pattern, size=100,
            query={"bool": {"filter": [{"range": {mapping.TS_FIELD: {"lte": before[0]}}},
                                       {"range": {mapping.SEQ_FIELD: {"lte": through + SLACK}}}]}},
            source_includes=[mapping.TS_FIELD, mapping.SEQ_FIELD],
            ignore_unavailable=True, allow_no_indices=True)
        for hit in response["hits"]["hits"]:
            ts, seq = int(hit["_source"].get(mapping.TS_FIELD, 0)), int(hit["_source"].get(mapping.SEQ_FIELD, 0))
            if seq <= through and (ts, seq) <= before:
                return (f"event {hit['_id']} in {hit['_index']} is older than what this retention removed,"
                        " yet still stored")
        return None

    def _count(self, what: str, query: dict[str, Any], index: str | None = None) -> int:
        response = self.cluster.call(
            what, self.cluster.client.count, index=index or self.names.events_pattern, query=query,
            ignore_unavailable=True, allow_no_indices=True)
        return int(response["count"])

    def count_events(self, first: int, last: int) -> int:
        """Events stored with ``first <= siem_seq <= last``."""
        bounds = {"gte": first - SLACK, "lte": last + SLACK}
        return self._count("cannot count events", {"range": {mapping.SEQ_FIELD: bounds}})

    def events_before(self, first: int) -> int:
        """Events stored with a ``siem_seq`` below ``first`` (before sealing began)."""
        return self._count("cannot count events", {"range": {mapping.SEQ_FIELD: {"lt": first - SLACK}}})

    def events_after(self, last: int) -> list[int]:
        """``siem_seq`` of the events stored above ``last`` (one page at most)."""
        response = self.cluster.call(
            "cannot count events", self.cluster.client.search,
            index=self.names.events_pattern, size=PAGE, query={"range": {mapping.SEQ_FIELD: {"gt": last + SLACK}}},
            source_includes=[mapping.SEQ_FIELD], ignore_unavailable=True, allow_no_indices=True)
        seqs = (int(hit["_source"].get(mapping.SEQ_FIELD, 0)) for hit in response["hits"]["hits"])
        return [seq for seq in seqs if seq > last]

    def events_without_seq(self) -> int:
        """Events without a ``siem_seq`` (siem writes none: added by hand)."""
        return self._count("cannot count events", {"bool": {"must_not": [{"exists": {"field": mapping.SEQ_FIELD}}]}})

    def audit_count(self) -> int:
        """Entries in the audit log."""
        return self._count("cannot count audit entries", {"match_all": {}}, self.names.audit)


@contextlib.contextmanager
def sealing_paused(sealer: Sealer | None) -> Iterator[Sealer | None]:
    """Hold off sealing (retention runs under it) and yield the sealer, loaded."""
    if sealer is None:
        yield None
        return
    with sealer.lock:
        sealer.load()
        yield sealer
