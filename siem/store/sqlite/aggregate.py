"""GROUP BY queries of the SQLite store for reports (``Store.aggregate_events/_alerts``).

The counting happens in SQLite, so a month of events never passes through Python. Values are
bound parameters; field names go through ``field_expression`` (a known column, or a
``json_extract`` path that is itself a bound parameter after a strict name check). Time
buckets are integer divisions of the event time in milliseconds
(https://www.sqlite.org/lang_expr.html: integer ``/`` truncates, and times are positive).

Reading event rows is what costs (each holds the whole event). A count by one indexed column
over a time range (events per day per ward) reads only that column's index, which holds
(column, ts): ``INDEXED BY`` the partial index for the events that have the column, and the
``ts`` index for the total, the difference being the events without it (whose newest time is
then not known: ``latest`` is None for that group unless ``EventAggregation.latest`` asks).
The two reads are separate statements; a batch written between them can make the "without"
group off by that batch, which a report can bear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from siem.store.aggregation import check_aggregation, check_alert_fields, key_text
from siem.store.base import AggregateBucket, AlertAggregation, EventAggregation
from siem.store.sqlite.query import field_expression, where_clause
from siem.store.sqlite.rows import EVENT_COLUMNS

#: Column -> its (column, ts) index from migrations.py step 1 (partial: column IS NOT NULL).
_COLUMN_INDEXES = {"site": "events_site", "source_ip": "events_source_ip",
                   "destination_ip": "events_destination_ip", "host": "events_host", "user": "events_user"}

Statement = tuple[str, list[Any]]


def event_statements(aggregation: EventAggregation) -> list[Statement]:
    """The statements that answer ``aggregation``: one GROUP BY, or the two index-only reads."""
    check_aggregation(aggregation.group_by, aggregation.interval, aggregation.top)
    column = _index_column(aggregation)
    if column is None:
        return [event_sql(aggregation)]
    bucket, bucket_params = _bucket(aggregation)
    conditions, params = _time_conditions(aggregation)
    present = f"SELECT {column}{bucket}, count(*), max(ts) FROM events INDEXED BY {_COLUMN_INDEXES[column]}" \
              f" WHERE {' AND '.join([f'{column} IS NOT NULL', *conditions])} GROUP BY 1{', 2' if bucket else ''}"
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    total = f"SELECT NULL{bucket}, count(*), NULL FROM events{where}{' GROUP BY 2' if bucket else ''}"
    return [(present, [*bucket_params, *params]), (total, [*bucket_params, *params])]


def event_results(results: Sequence[Sequence[Sequence[Any]]], aggregation: EventAggregation) -> list[AggregateBucket]:
    """Buckets from the rows of ``event_statements`` (in their order)."""
    if len(results) == 1:
        return event_buckets(results[0], aggregation)
    present, totals = results
    found = event_buckets(present, aggregation)
    counted: dict[float | None, int] = {}
    for bucket in found:
        counted[bucket.start] = counted.get(bucket.start, 0) + bucket.count
    for bucket in event_buckets(totals, aggregation):
        missing = bucket.count - counted.get(bucket.start, 0)
        if missing > 0:
            found.append(AggregateBucket(keys=(None,), count=missing, start=bucket.start))
    found.sort(key=lambda item: (item.keys[0] is not None, item.keys[0] or "", item.start or 0.0))
    return found


def _index_column(aggregation: EventAggregation) -> str | None:
    """The column whose index alone answers ``aggregation``, if there is one."""
    query = aggregation.query
    if (aggregation.latest or aggregation.top is not None or len(aggregation.group_by) != 1
            or query.fields or (query.text and query.text.strip()) or query.expression is not None):
        return None
    column = EVENT_COLUMNS.get(aggregation.group_by[0])
    return column if column in _COLUMN_INDEXES else None


def _bucket(aggregation: EventAggregation) -> tuple[str, list[Any]]:
    if aggregation.interval is None:
        return "", []
    return ", (ts - ?) / ?", [int(aggregation.offset * 1000), int(aggregation.interval * 1000)]


def _time_conditions(aggregation: EventAggregation) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if aggregation.query.since is not None:
        conditions.append("ts >= ?")
        params.append(int(aggregation.query.since * 1000))
    if aggregation.query.until is not None:
        conditions.append("ts <= ?")
        params.append(int(aggregation.query.until * 1000))
    return conditions, params


def event_sql(aggregation: EventAggregation) -> tuple[str, list[Any]]:
    """The SELECT ... GROUP BY of ``aggregation`` and its parameters."""
    check_aggregation(aggregation.group_by, aggregation.interval, aggregation.top)
    columns: list[str] = []
    params: list[Any] = []
    for number, name in enumerate(aggregation.group_by):
        expression, extra = field_expression(name)
        columns.append(f"{expression} AS g{number}")
        params.extend(extra)
    names = [f"g{number}" for number in range(len(aggregation.group_by))]
    if aggregation.interval is not None:
        columns.append("(ts - ?) / ? AS bucket")
        params.extend((int(aggregation.offset * 1000), int(aggregation.interval * 1000)))
        names.append("bucket")
    columns += ["count(*)", "max(ts)"]
    where, where_params = where_clause(aggregation.query)
    params.extend(where_params)
    if aggregation.top is not None and aggregation.group_by:
        # Top-N leaves out events without the fields (as the terms aggregation does).
        present = " AND ".join(f"g{number} IS NOT NULL" for number in range(len(aggregation.group_by)))
        where = f"{where} AND {present}" if where else f" WHERE {present}"
    sql = f"SELECT {', '.join(columns)} FROM events{where}"
    if names:
        sql += f" GROUP BY {', '.join(names)}"
    if aggregation.top is not None:
        order = ", ".join(names)
        sql += f" ORDER BY count(*) DESC{', ' + order if order else ''} LIMIT ?"
        params.append(max(0, aggregation.top))
    elif names:
        sql += f" ORDER BY {', '.join(names)}"
    return sql, params


def event_buckets(rows: Sequence[Sequence[Any]], aggregation: EventAggregation) -> list[AggregateBucket]:
    """Buckets from the rows of ``event_sql`` (an empty store gives no bucket, not a zero)."""
    width = len(aggregation.group_by)
    found: list[AggregateBucket] = []
    for row in rows:
        count = int(row[-2])
        if count == 0:
            continue
        start = None
        if aggregation.interval is not None:
            start = int(row[width]) * aggregation.interval + aggregation.offset
        found.append(AggregateBucket(
            keys=tuple(key_text(value) for value in row[:width]),
            count=count,
            start=start,
            latest=row[-1] / 1000 if row[-1] is not None else None,
        ))
    return found


def alert_sql(aggregation: AlertAggregation) -> tuple[str, list[Any]]:
    """The SELECT ... GROUP BY over not-suppressed alerts seen in the time range."""
    check_alert_fields(aggregation.group_by)
    conditions = ["NOT EXISTS (SELECT 1 FROM alert_suppressed s WHERE s.alert_id = alerts.id)"]
    params: list[Any] = []
    if aggregation.since is not None:
        conditions.append("last_seen >= ?")
        params.append(aggregation.since)
    if aggregation.until is not None:
        conditions.append("first_seen <= ?")
        params.append(aggregation.until)
    names = list(aggregation.group_by)
    select = ", ".join([*names, "count(*)", "coalesce(sum(count), 0)"])
    sql = f"SELECT {select} FROM alerts WHERE {' AND '.join(conditions)}"
    if names:
        sql += f" GROUP BY {', '.join(names)}"
    if aggregation.top is not None:
        sql += f" ORDER BY count(*) DESC, sum(count) DESC{', ' + ', '.join(names) if names else ''} LIMIT ?"
        params.append(max(0, aggregation.top))
    elif names:
        sql += f" ORDER BY {', '.join(names)}"
    return sql, params


def alert_buckets(rows: Sequence[Sequence[Any]], width: int) -> list[AggregateBucket]:
    """Buckets from the rows of ``alert_sql``."""
    return [
        AggregateBucket(keys=tuple(key_text(value) for value in row[:width]), count=int(row[width]),
                        matches=int(row[width + 1]))
        for row in rows
        if int(row[width])
    ]
