"""The catalog: every parser loads, and the detectors route real lines to the right parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.parsers.catalog import PARSERS, detect, load_parser
from tests.collectors.parsers.elastic_cases import FILES, cases

#: Parsers whose lines a detector names by another entry (same format, vendor unknown).
DETECTED_AS = {"opnsense": "pfsense", "cisco.ftd": "cisco.asa", "zeek": "zeek"}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_parser_loads(name: str) -> None:
    parser = load_parser(name)
    assert callable(parser.parse)
    assert isinstance(parser.name, str)


@pytest.mark.corpus
def test_detectors_route_elastic_inputs(corpus_dir: Path) -> None:
    routed = total = 0
    wrong = []
    for spec in FILES:
        want = DETECTED_AS.get(spec.parser, spec.parser)
        for line, doc in cases(corpus_dir, spec):
            if set(doc) <= {"event.original", "message"}:
                continue  # Elastic could not parse it either
            total += 1
            got = detect(line)
            routed += got == want
            if got != want:
                wrong.append((spec.path, got, line[:80]))
    # Measured: every line Elastic parsed is routed to our parser for its format.
    assert routed == total, wrong


def test_detect_order_prefers_specific_formats() -> None:
    assert detect("<13>Nov 1 00:00:00 h CEF:0|Fortinet|FortiGate|1|2|n|3|logid=1 type=x") == "cef"
    assert detect('{"event_type":"alert","src_ip":"192.0.2.1"}') == "suricata.eve"
    assert detect('{"ts":1,"id.orig_h":"192.0.2.1"}') == "zeek"
    assert detect('{"message":"hello"}') == "json"
    assert detect("plain text nobody knows") is None
