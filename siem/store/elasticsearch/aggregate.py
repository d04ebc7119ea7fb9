"""Aggregations of the Elasticsearch store for reports (``Store.aggregate_events/_alerts``).

Counting happens in the cluster with search aggregations
(https://www.elastic.co/guide/en/elasticsearch/reference/current/search-aggregations.html):
every group through a ``composite`` aggregation paged with ``after_key`` (``missing_bucket``
keeps the events without the field), the largest groups through ``terms`` / ``multi_terms``
ordered by count, time buckets through ``date_histogram`` with a fixed interval and offset,
the newest event through ``max``. ``terms`` counts over several indices are approximate when
a group is spread thinly (``shard_size`` is raised to keep that rare); the composite path is
exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from siem.store.aggregation import check_aggregation, check_alert_fields, key_text
from siem.store.base import AggregateBucket, AlertAggregation, EventAggregation
from siem.store.elasticsearch.mapping import TS_FIELD
from siem.store.elasticsearch.search import check_field

Dsl = dict[str, Any]
#: Runs one search of the aggregation's index with ``aggs`` (size 0, total hits tracked)
#: and returns the response body.
Search = Callable[[Dsl], Mapping[str, Any]]

#: Groups per page of a composite aggregation.
COMPOSITE_PAGE = 1000


def event_buckets(search: Search, aggregation: EventAggregation) -> list[AggregateBucket]:
    """The buckets of ``aggregation``, read with as many searches as the composite pages need."""
    group_by = [check_field(name) for name in aggregation.group_by]
    check_aggregation(group_by, aggregation.interval, aggregation.top)
    metrics: Dsl = {"latest": {"max": {"field": TS_FIELD}}}
    histogram: Dsl | None = None
    if aggregation.interval is not None:
        histogram = {"date_histogram": {
            "field": TS_FIELD,
            "fixed_interval": f"{int(aggregation.interval * 1000)}ms",
            "offset": f"{int(aggregation.offset * 1000)}ms",
            "min_doc_count": 1,
        }, "aggs": metrics}
    if not group_by:
        response = search({"histogram": histogram} if histogram else metrics)
        aggregations = response.get("aggregations") or {}
        if histogram is None:
            total = int(response["hits"]["total"]["value"])
            latest = _seconds((aggregations.get("latest") or {}).get("value"))
            return [AggregateBucket(keys=(), count=total, latest=latest)] if total else []
        return _histogram((), aggregations.get("histogram"))
    if aggregation.top is not None:
        return _top(search, group_by, aggregation.top, metrics, lambda found: int(found["doc_count"]),
                    lambda keys, found: AggregateBucket(keys, int(found["doc_count"]),
                                                        latest=_seconds(found["latest"]["value"])))
    sub = {"histogram": histogram} if histogram else metrics
    found: list[AggregateBucket] = []
    for keys, bucket in _composite(search, group_by, sub):
        if histogram is not None:
            found.extend(_histogram(keys, bucket.get("histogram")))
        else:
            found.append(AggregateBucket(keys, int(bucket["doc_count"]),
                                         latest=_seconds(bucket["latest"]["value"])))
    return found


def alert_filters(aggregation: AlertAggregation) -> list[Dsl]:
    """Filters of the alerts the aggregation counts: not suppressed, seen in the time range."""
    filters: list[Dsl] = [{"bool": {"must_not": [{"exists": {"field": "suppression_id"}}]}}]
    if aggregation.since is not None:
        filters.append({"range": {"last_seen": {"gte": aggregation.since}}})
    if aggregation.until is not None:
        filters.append({"range": {"first_seen": {"lte": aggregation.until}}})
    return filters


def alert_buckets(search: Search, aggregation: AlertAggregation) -> list[AggregateBucket]:
    """Alerts and their summed matches per group (search over the filtered alerts index)."""
    group_by = list(aggregation.group_by)
    check_alert_fields(group_by)
    metrics: Dsl = {"matches": {"sum": {"field": "count"}}}
    if not group_by:
        response = search(metrics)
        total = int(response["hits"]["total"]["value"])
        matches = ((response.get("aggregations") or {}).get("matches") or {}).get("value")
        return [AggregateBucket(keys=(), count=total, matches=int(matches or 0))] if total else []

    def bucket(keys: tuple[str | None, ...], found: Mapping[str, Any]) -> AggregateBucket:
        return AggregateBucket(keys, int(found["doc_count"]), matches=int(found["matches"]["value"] or 0))

    if aggregation.top is not None:
        return _top(search, group_by, aggregation.top, metrics,
                    lambda found: int(found["doc_count"]) * 10**12 + int(found["matches"]["value"] or 0),
                    bucket)
    return [bucket(keys, found) for keys, found in _composite(search, group_by, metrics)]


def _composite(search: Search, group_by: Sequence[str], sub: Dsl) -> list[tuple[tuple[str | None, ...], Any]]:
    """Every (keys, bucket) of a composite aggregation over ``group_by``, page by page."""
    names = [f"g{number}" for number in range(len(group_by))]
    sources = [{name: {"terms": {"field": field, "missing_bucket": True}}}
               for name, field in zip(names, group_by, strict=True)]
    found: list[tuple[tuple[str | None, ...], Any]] = []
    after: Any = None
    while True:
        composite: Dsl = {"size": COMPOSITE_PAGE, "sources": sources}
        if after is not None:
            composite["after"] = after
        response = search({"groups": {"composite": composite, "aggs": sub}})
        result = (response.get("aggregations") or {}).get("groups") or {}
        buckets = result.get("buckets") or []
        for bucket in buckets:
            found.append((tuple(key_text(bucket["key"].get(name)) for name in names), bucket))
        after = result.get("after_key")
        if len(buckets) < COMPOSITE_PAGE or after is None:
            return found


def _top(
    search: Search,
    group_by: Sequence[str],
    top: int,
    metrics: Dsl,
    rank: Callable[[Mapping[str, Any]], int],
    make: Callable[[tuple[str | None, ...], Mapping[str, Any]], AggregateBucket],
) -> list[AggregateBucket]:
    """The ``top`` largest groups (events without the fields left out), largest first."""
    if top <= 0:
        return []
    size = {"size": top, "shard_size": max(top * 10, 100)}
    if len(group_by) == 1:
        aggs: Dsl = {"top": {"terms": {"field": group_by[0], **size}, "aggs": metrics}}
    else:
        aggs = {"top": {"multi_terms": {"terms": [{"field": name} for name in group_by], **size},
                        "aggs": metrics}}
    response = search(aggs)
    buckets = ((response.get("aggregations") or {}).get("top") or {}).get("buckets") or []
    found = []
    for bucket in buckets:
        key = bucket["key"]
        keys = tuple(key_text(value) for value in (key if isinstance(key, list) else [key]))
        found.append((rank(bucket), keys, make(keys, bucket)))
    found.sort(key=lambda item: (-item[0], tuple(key or "" for key in item[1])))
    return [bucket for _, _, bucket in found[:top]]


def _histogram(keys: tuple[str | None, ...], result: Mapping[str, Any] | None) -> list[AggregateBucket]:
    buckets = (result or {}).get("buckets") or []
    return [
        AggregateBucket(keys, int(bucket["doc_count"]), start=float(bucket["key"]) / 1000,
                        latest=_seconds(bucket["latest"]["value"]))
        for bucket in buckets
        if int(bucket["doc_count"])
    ]


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value) / 1000
