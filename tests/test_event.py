"""The flat ECS event helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siem.event import EventShapeError, format_timestamp, from_nested, make_event_id, parse_timestamp, to_nested


def test_event_id_is_stable_and_distinguishes_parts() -> None:
    assert make_event_id("file:///a", "10", "line") == make_event_id("file:///a", "10", "line")
    assert make_event_id("a", "bc") != make_event_id("ab", "c")
    assert len(make_event_id("x")) == 32


def test_timestamps_round_trip() -> None:
    text = format_timestamp(1_700_000_000.123)
    assert text == "2023-11-14T22:13:20.123Z"
    assert parse_timestamp(text) == pytest.approx(1_700_000_000.123)
    assert parse_timestamp("2023-11-14T23:13:20+01:00") == 1_700_000_000


def test_nested_conversion() -> None:
    flat = {"@timestamp": "t", "source.ip": "10.0.0.1", "source.port": 22, "event.category": ["network"]}
    nested = to_nested(flat)
    assert nested == {"@timestamp": "t", "source": {"ip": "10.0.0.1", "port": 22}, "event": {"category": ["network"]}}
    assert from_nested(nested) == flat


def test_conflicting_shape_is_reported() -> None:
    with pytest.raises(EventShapeError, match="'source'"):
        to_nested({"source": "x", "source.ip": "1"})


keys = st.lists(st.text("abc", min_size=1, max_size=3), min_size=1, max_size=3).map(".".join)


@given(st.dictionaries(keys, st.integers() | st.text(max_size=5), max_size=8))
def test_round_trip_property(flat: dict[str, object]) -> None:
    try:
        nested = to_nested(flat)
    except EventShapeError:
        # Some key is a prefix of another: then no nested document can hold both.
        assert any(other.startswith(key + ".") for key in flat for other in flat)
        return
    assert from_nested(nested) == flat


@given(st.datetimes(timezones=st.just(UTC) | st.none()))
def test_format_timestamp_is_iso_8601_with_milliseconds(moment: datetime) -> None:
    expected = moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"  # years < 1000 padded too
    assert format_timestamp(moment) == expected
