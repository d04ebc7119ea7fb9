"""Reading ``siem detect`` input: documents back to back, across read chunks, broken lines."""

from __future__ import annotations

import io
import json

import pytest

from siem.commands import detect as detect_command


@pytest.mark.parametrize("chunk", [3, 7, 64, 1 << 16])
def test_documents_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(detect_command, "_CHUNK", chunk)
    first = {"Event": {"System": {"EventID": 1}, "EventData": {"Image": "a b \\ c"}}}
    text = (json.dumps(first, indent=2) + json.dumps({"x": 1}) + "\n{broken line\n"
            + json.dumps({"y": [1, 2]}) + "\n")
    got = list(detect_command.iter_documents(io.StringIO(text)))
    assert [doc for _, doc, err in got if err is None] == [first, {"x": 1}, {"y": [1, 2]}]
    errors = [(line, err) for line, _, err in got if err is not None]
    assert len(errors) == 1 and errors[0][0] == text.count("\n", 0, text.index("{broken")) + 1
    assert len(got) == 4  # the broken line still takes one position (event_index)


@pytest.mark.parametrize("chunk", [5, 1 << 16])
def test_json_lines_decode_as_json_does(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Whole lines take the fast decoder; what it would read otherwise (huge integers, NaN) or
    cannot read (two documents on a line, pretty-printed ones) gives json's documents too."""
    monkeypatch.setattr(detect_command, "_CHUNK", chunk)
    documents = [{"a": 123456789012345678901234567890}, {"b": -1.5, "c": "x\\u00e9"}, {"d": float("nan")},
                 {"e": 1}, {"f": 2}, {"g": {"h": [1, None, True]}}, {"i": "\ud800"}]
    text = (json.dumps(documents[0]) + "\n" + json.dumps(documents[1]) + "\r\n" + json.dumps(documents[2])
            + "\n" + json.dumps(documents[3]) + json.dumps(documents[4]) + "\n"
            + json.dumps(documents[5], indent=1) + "\n" + json.dumps(documents[6]) + "\n")
    got = list(detect_command.iter_documents(io.StringIO(text)))
    assert [err for _, _, err in got] == [None] * 7
    assert [line for line, _, _ in got] == [1, 2, 3, 4, 4, 5, 14]
    decoded = [doc for _, doc, _ in got]
    assert decoded[0]["a"] == 123456789012345678901234567890 and isinstance(decoded[0]["a"], int)
    assert decoded[2]["d"] != decoded[2]["d"]  # NaN
    assert [d for i, d in enumerate(decoded) if i != 2] == [d for i, d in enumerate(documents) if i != 2]
