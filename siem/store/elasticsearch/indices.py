"""Index access shared by the store's methods: creating indices, reading and searching
record documents, bulk writes that must all succeed, the audit log."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from elasticsearch import ApiError, NotFoundError

from siem.errors import StoreError
from siem.store.elasticsearch import mapping
from siem.store.elasticsearch.bulk import BulkWriter
from siem.store.elasticsearch.cluster import Cluster
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.seals import Sealer

#: Largest page of one search request (Elasticsearch's default max_result_window).
PAGE = 10000


class IndexAccess:
    """The cluster connection of a store and the helpers its methods share."""

    def __init__(self, config: ElasticsearchConfig) -> None:
        """Connect and check the cluster answers (StoreError naming the hosts if not)."""
        self.config = config
        self.cluster = Cluster(config)
        self.names = mapping.IndexNames(config.index_prefix)
        self._known_indices: set[str] = set()
        self._lock = threading.Lock()
        self._seq = time.time_ns()
        self._closed = False
        self.dead_letters = 0
        #: Seals batches and audit entries in a hash chain (set by the store; None: no sealing).
        self.sealer: Sealer | None = None
        self.cluster.call("cannot connect to the store", self.cluster.client.info)
        self._bulk = BulkWriter(self.cluster)

    @property
    def location(self) -> str:
        """The hosts and index prefix (no credentials)."""
        return f"{self.cluster.hosts} ({self.config.index_prefix}-*)"

    # -- indices --------------------------------------------------------------------------

    def ensure_index(self, name: str, *, events: bool = False) -> None:
        """Create ``name`` with our settings and mappings unless it exists (or a template
        will create it on a cluster set up by ``siem es setup``)."""
        if name in self._known_indices:
            return
        client = self.cluster.client
        exists = bool(self.cluster.call("cannot check an index", client.indices.exists, index=name))
        if not exists:
            if events:
                body: dict[str, Any] = {"settings": mapping.event_settings(),
                                        "mappings": mapping.event_mappings()}
            else:
                body = {"mappings": mapping.record_mappings()}
            try:
                self.cluster.call(f"cannot create index {name}", client.indices.create,
                                  index=name, **body)
            except StoreError as exc:
                if not isinstance(exc.__cause__, ApiError):
                    raise
                if "data stream" in str(exc):
                    # ``siem es setup`` made this a data stream: the first write creates it.
                    self._known_indices.add(name)
                    return
                # Another writer may have created it meanwhile; anything else is real.
                if not self.cluster.call("cannot check an index", client.indices.exists,
                                         index=name):
                    raise
        self._known_indices.add(name)

    def next_seq(self, count: int) -> int:
        """The first of ``count`` increasing numbers (write order, across restarts too)."""
        with self._lock:
            start = max(self._seq, time.time_ns())
            self._seq = start + count
        return start

    def bulk_records(self, what: str, operations: list[dict[str, Any]]) -> None:
        """A bulk request of record writes that must all succeed."""
        if not operations:
            return
        response = self.cluster.call(
            what, self.cluster.client.bulk, operations=operations, refresh=self.config.refresh
        )
        if response.get("errors"):
            reasons = {
                str(result.get("error", {}).get("reason", result.get("status")))
                for item in response["items"] for result in item.values()
                if int(result.get("status", 200)) >= 300
            }
            raise StoreError(f"{what}: {'; '.join(sorted(reasons))}"
                             f" (Elasticsearch at {self.cluster.hosts})")

    def check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    # -- records (used by the case methods too) -------------------------------------------

    def get_document(self, index: str, ident: str) -> dict[str, Any] | None:
        """The document ``ident`` of ``index`` (with ``_seq_no``), or None."""
        self.check_open()
        try:
            response = self.cluster.call("cannot read the store", self.cluster.client.get,
                                         index=index, id=ident)
        except StoreError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise
        return dict(response.body)

    def search_records(
        self, index: str, filters: list[dict[str, Any]], sort: list[dict[str, Any]], limit: int
    ) -> list[dict[str, Any]]:
        """Hits of a filtered, sorted search of a record index (none if it does not exist)."""
        self.check_open()
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        response = self.cluster.call(
            "cannot read the store", self.cluster.client.search,
            index=index, query=query, sort=sort, size=max(0, min(limit, PAGE)),
            ignore_unavailable=True, allow_no_indices=True, seq_no_primary_term=True,
        )
        return list(response["hits"]["hits"])

    def count_records(self, index: str, filters: list[dict[str, Any]] | None = None) -> int:
        """How many documents of a record index match ``filters``."""
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        response = self.cluster.call(
            "cannot count records", self.cluster.client.count,
            index=index, query=query, ignore_unavailable=True, allow_no_indices=True,
        )
        return int(response["count"])

    def audit_entry(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        """Append to the audit log (``audit`` of the Store protocol)."""
        self.ensure_index(self.names.audit)
        document = {
            "seq": self.next_seq(1), "at": time.time(), "actor": actor, "action": action,
            "target": target, "before": json.dumps(before, default=str),
            "after": json.dumps(after, default=str),
        }
        response = self.cluster.call("cannot write the audit log", self.cluster.client.index,
                                     index=self.names.audit, document=document, refresh=self.config.refresh)
        if self.sealer is not None:
            self.sealer.seal_audit(str(response["_index"]), str(response["_id"]), document)

