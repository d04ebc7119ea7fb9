"""The seal format: the fast row encoder writes the reference bytes; chain values and anchors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siem.errors import StoreError
from siem.integrity.anchor import Anchor, read_anchor, write_anchor
from siem.integrity.chain import EVENTS, GENESIS, Seal, batch_digest, encode_mixed_row, encode_row, link

_VALUES = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.text(alphabet=st.characters(blacklist_categories=["Cs"])))


@given(st.lists(_VALUES, max_size=12))
def test_fast_encoder_writes_the_reference_bytes(values: list[object]) -> None:
    reference = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert encode_row(tuple(values)) == reference
    assert encode_mixed_row(values) == reference


def test_text_integers_and_null_stay_apart() -> None:
    rows = [(1, "5"), (1, 5), (1, None), (1, ""), (1, "null"), ("1", 5)]
    assert len({encode_row(row) for row in rows}) == len(rows)


def test_lone_surrogates_fall_back_to_the_reference_encoder() -> None:
    assert encode_row(("bad \udcff",)) == '["bad \udcff"]'.encode("utf-8", "surrogatepass")


def test_every_header_field_and_the_previous_chain_change_the_link() -> None:
    seal = Seal(id=3, kind=EVENTS, first=21, last=30, count=10, sealed_at=1.5, meta="{}",
                digest=batch_digest(EVENTS, [b"a" * 32]), chain=b"")
    base = link(GENESIS, seal)
    replace = dataclasses.replace
    changed = [replace(seal, id=4), replace(seal, kind="audit"), replace(seal, first=20), replace(seal, last=31),
               replace(seal, count=9), replace(seal, sealed_at=1.25), replace(seal, meta='{"x":1}'),
               replace(seal, digest=batch_digest(EVENTS, [b"b" * 32]))]
    assert all(link(GENESIS, item) != base for item in changed)
    assert link(b"\x01" * 32, seal) != base
    assert batch_digest(EVENTS, [b"a" * 32]) != batch_digest("audit", [b"a" * 32])


def test_anchor_round_trip_and_refusal(tmp_path: Path) -> None:
    path = tmp_path / "head.json"
    assert read_anchor(path) is None
    anchor = Anchor(seal=7, chain=bytes(range(32)), sealed_at=1764000000.25)
    write_anchor(path, anchor)
    assert read_anchor(path) == anchor
    path.write_text('{"seal": 7, "chain": "abc"}', encoding="utf-8")
    with pytest.raises(StoreError, match="not a seal anchor"):
        read_anchor(path)
