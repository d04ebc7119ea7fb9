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
