"""Time zones by name: every IANA name the system knows, and None for any other text."""

from __future__ import annotations

import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from siem.zones import find_zone


def test_every_available_iana_name_is_found() -> None:
    names = zoneinfo.available_timezones()
    assert {"Asia/Ho_Chi_Minh", "America/Argentina/Buenos_Aires", "Etc/GMT+7", "America/Port-au-Prince"} <= names
    missing = sorted(name for name in names if find_zone(name) is None)
    assert missing == []


@given(st.text(max_size=300) | st.text(alphabet="Asia/x.", max_size=2000))
def test_any_other_text_is_none_or_a_zone(text: str) -> None:
    zone = find_zone(text)
    assert zone is None or str(zone) == text


def test_texts_that_broke_zoneinfo_are_none() -> None:
    for text in ("Asia", "Asia/" + "x/" * 400 + "y", "H" * 300, "../etc/passwd", "Asia/Ho_Chi_Minh\x00", ""):
        assert find_zone(text) is None
