"""The canonical bytes of a stored document: the fast path writes what the reference encoder does."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from siem.integrity.chain import encode_document

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                             max_size=4), max_leaves=20)


def reference(values: list[object]) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8", "surrogatepass")


@given(st.text(), st.text(), st.dictionaries(st.text(), _VALUES, max_size=8))
def test_same_bytes_as_the_reference_encoder(index: str, ident: str, source: dict[str, object]) -> None:
    assert encode_document([index, ident, source]) == reference([index, ident, source])


def test_key_order_and_escapes() -> None:
    first = encode_document(["i", "d", {"b": 1, "a": "x\u2028\x01\"\\é", "c": [1.0, 1e16, None]}])
    assert first == encode_document(["i", "d", {"c": [1.0, 1e16, None], "a": "x\u2028\x01\"\\é", "b": 1}])
    assert first == '["i","d",{"a":"x\u2028\\u0001\\"\\\\é","b":1,"c":[1.0,1e+16,null]}]'.encode()
