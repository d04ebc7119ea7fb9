"""Index names, settings and ECS mappings of the Elasticsearch store.

ECS field types: https://www.elastic.co/guide/en/ecs/current/ecs-field-reference.html
(``@timestamp`` date, ``*.ip`` ip, ports long, ``event.original`` and ``message`` text).
``event.original`` and ``message`` are keyword (a whole-value match, as the search language
means ``message:"..."``) with an analyzed ``.text`` sub-field for free text; the analyzer
folds case and diacritics, so ``mat khau`` finds ``mật khẩu``. Other strings are keyword.
Values of the wrong type for a field (a bad address in ``source.ip``) are kept in the
document and just not indexed (``ignore_malformed``), so nothing is lost.

Events carry two fields of ours, removed when read back: ``siem_ts`` (epoch milliseconds,
the event time or the write time when it has none; time filters and order use it) and
``siem_seq`` (write order, the tie-breaker).
"""

from __future__ import annotations

import re
from typing import Any

from siem import event as ecs

TS_FIELD = "siem_ts"
SEQ_FIELD = "siem_seq"
INTERNAL_FIELDS = (TS_FIELD, SEQ_FIELD)
#: Sub-field of the free-text fields that holds their analyzed words.
TEXT_SUBFIELD = "text"
FREE_TEXT = (ecs.ORIGINAL, ecs.MESSAGE)
#: Version of the mappings below; shown as the store's schema version.
SCHEMA_VERSION = 1

_DATASET_CHARS = re.compile(r"[^a-z0-9_.-]+")

_ANALYSIS: dict[str, Any] = {
    "analyzer": {
        "siem_folded": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding"],
        }
    }
}

_DYNAMIC_TEMPLATES: list[dict[str, Any]] = [
    {"addresses": {"path_match": "*.ip", "mapping": {"type": "ip"}}},
    {"ports": {"path_match": "*.port", "mapping": {"type": "long"}}},
    # JSON numbers with a fraction would be ``float`` (24-bit) by default: too coarse for times.
    {"decimals": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
    # Booleans as keyword so ``tls.established:true`` compares as text, like every backend.
    {"booleans": {"match_mapping_type": "boolean", "mapping": {"type": "keyword"}}},
    {"strings": {"match_mapping_type": "string",
                 "mapping": {"type": "keyword", "ignore_above": 8191}}},
]


def _free_text_field() -> dict[str, Any]:
    return {
        "type": "keyword",
        "ignore_above": 8191,
        "fields": {TEXT_SUBFIELD: {"type": "text", "analyzer": "siem_folded"}},
    }


def event_settings() -> dict[str, Any]:
    """Settings of an events index."""
    return {"analysis": _ANALYSIS, "index.mapping.ignore_malformed": True}


def event_mappings() -> dict[str, Any]:
    """Mappings of an events index (ECS types for our fields, keyword for the rest)."""
    return {
        "dynamic_templates": _DYNAMIC_TEMPLATES,
        "properties": {
            "@timestamp": {"type": "date"},
            TS_FIELD: {"type": "date", "format": "epoch_millis"},
            SEQ_FIELD: {"type": "long"},
            "event": {"properties": {"original": _free_text_field()}},
            "message": _free_text_field(),
        },
    }


def record_mappings() -> dict[str, Any]:
    """Mappings of the other indices (alerts, incidents, ...): keyword text, double numbers."""
    return {
        "dynamic_templates": [
            {"decimals": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
            # Times are seconds as floats; the first one stored may happen to be whole.
            {"times": {"match": "*_at", "mapping": {"type": "double"}}},
            {"seen": {"match": "*_seen", "mapping": {"type": "double"}}},
            {"strings": {"match_mapping_type": "string",
                         "mapping": {"type": "keyword", "ignore_above": 8191}}},
        ],
    }


class IndexNames:
    """The index names of one store (all start with ``prefix``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.events_pattern = f"{prefix}-events-*"
        self.checkpoints = f"{prefix}-checkpoints"
        self.alerts = f"{prefix}-alerts"
        self.alert_folds = f"{prefix}-alert-folds"
        self.suppressions = f"{prefix}-suppressions"
        self.incidents = f"{prefix}-incidents"
        self.incident_links = f"{prefix}-incident-links"
        self.incident_notes = f"{prefix}-incident-notes"
        self.audit = f"{prefix}-audit"
        self.source_stats = f"{prefix}-source-stats"
        self.deadletter = f"{prefix}-deadletter"
        #: Integrity seals of the events and the audit log (siem/store/elasticsearch/seals.py).
        self.seals = f"{prefix}-seals"
        self.everything = f"{prefix}-*"

    def events(self, dataset: Any) -> str:
        """The events index of a dataset (``siem-events-linux.auth``)."""
        name = _DATASET_CHARS.sub("-", str(dataset).lower()).strip("-._") if dataset else ""
        return f"{self.prefix}-events-{name or ecs.UNKNOWN_DATASET}"

    def records(self) -> tuple[str, ...]:
        """Every index other than the events ones."""
        return (self.checkpoints, self.alerts, self.alert_folds, self.suppressions,
                self.incidents, self.incident_links, self.incident_notes, self.audit,
                self.source_stats, self.deadletter)
