"""Checks and key formatting shared by the stores' aggregations (``Store.aggregate_*``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from siem.errors import QueryError
from siem.store.base import ALERT_GROUP_FIELDS


def key_text(value: Any) -> str | None:
    """A group key as text: None stays None, whole numbers lose their ``.0``."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_aggregation(group_by: Sequence[str], interval: float | None, top: int | None) -> None:
    """QueryError for an aggregation no store can run: a bad interval, interval with top-N,
    a field named twice."""
    if interval is not None and interval <= 0:
        raise QueryError(f"aggregation interval must be more than 0 seconds, not {interval}")
    if interval is not None and top is not None:
        raise QueryError("an aggregation takes a time interval or a top-N limit, not both")
    if len(set(group_by)) != len(group_by):
        raise QueryError(f"aggregation groups by the same field twice: {', '.join(group_by)}")


def check_alert_fields(group_by: Sequence[str]) -> None:
    """QueryError unless every name is one of ``ALERT_GROUP_FIELDS``, once."""
    unknown = [name for name in group_by if name not in ALERT_GROUP_FIELDS]
    if unknown:
        raise QueryError(
            f"cannot group alerts by {', '.join(unknown)}: use {', '.join(ALERT_GROUP_FIELDS)}"
        )
    check_aggregation(group_by, None, None)
