"""Run Elastic's pipeline-test inputs through our parsers and measure per-field agreement.

Elastic's expected documents (``elastic-pipeline-tests/`` in the shared corpus) are the
reference. Agreement of a field = among the documents where Elastic sets the field, the share
where our event has the same value. ``@timestamp`` is compared as an instant (Elastic writes
some with the test's time zone offset). Strings of ``event.action``, ``observer.vendor`` and
``network.transport`` are compared case-insensitively: our convention is the vendor's word in
lower case, Elastic keeps the vendor's case for some vendors (Check Point ``Accept``).

Run ``python -m tests.collectors.parsers.elastic_cases`` to print the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.base import Parser, RawRecord
from siem.errors import ParseError
from siem.event import from_nested, parse_timestamp

FIELDS = (
    "@timestamp",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "event.action",
    "event.outcome",
    "user.name",
    "observer.vendor",
)
CASELESS = frozenset({"event.action", "observer.vendor", "network.transport"})


@dataclass(frozen=True)
class ElasticFile:
    """One Elastic test input, how to read it (time zone, receive time) and our parser."""

    parser: str
    path: str
    timezone: str = "UTC"
    #: Receive time: year-less stamps resolve to the year Elastic's test run used.
    received: str = "2024-12-31T12:00:00Z"
    #: Fields whose Elastic value is not derivable from the input (see INDEX.tsv).
    skip: tuple[str, ...] = ()


#: parser name -> the Elastic test files it is measured on.
FILES: tuple[ElasticFile, ...] = (
    ElasticFile("iptables", "iptables/log/test-iptables-raw.log"),
    ElasticFile("pfsense", "pfsense/log/test-pfsense-bsd.log", "Etc/GMT+4", "2022-12-31T12:00:00Z"),
    ElasticFile(
        "opnsense",
        "pfsense/log/test-opensense-transport-dash.log",
        "Etc/GMT+4",
        "2024-06-30T12:00:00Z",
    ),
    ElasticFile("cisco.asa", "cisco_asa/log/test-106023-iface-with-prefix.log"),
    ElasticFile("cisco.ftd", "cisco_ftd/log/test-302020-direction.log"),
    ElasticFile("fortinet.fortigate", "fortinet_fortigate/log/test-fortinet-6-2.log"),
    ElasticFile("fortinet.fortigate", "fortinet_fortigate/log/test-fortinet-7-2.log"),
    ElasticFile("panw.panos", "panw/panos/test-panw-panos-inc-threat-sample.log", "Etc/GMT-10"),
    ElasticFile("sophos.xg", "sophos/xg/test-sophos-18-5-atp-firewall.log"),
    ElasticFile("juniper.srx", "juniper_srx/log/test-flow.log"),
    ElasticFile("juniper.srx", "juniper_srx/log/test-sample.log", received="2023-12-31T12:00:00Z"),
    ElasticFile("checkpoint", "checkpoint/firewall/test-checkpoint-with-time.log"),
    ElasticFile("linux.auth", "system/auth/test-pam-faillock.log"),
    ElasticFile("suricata.eve", "suricata/eve/test-eve-dns-4-1-4.log"),
    ElasticFile("suricata.eve", "suricata/eve/test-eve-tls-empty-issuerdn.log"),
    ElasticFile("suricata.eve", "suricata/eve/test-eve-tls-empty-subject.log"),
    ElasticFile("zeek", "zeek/connection/test-conn.log"),
    ElasticFile("zeek", "zeek/http/test-http.log"),
)


@dataclass
class Agreement:
    """Per-field counts for one parser: field -> [agreeing, documents where Elastic sets it]."""

    counts: dict[str, list[int]] = field(default_factory=dict)
    lines: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def add(self, name: str, agrees: bool) -> None:
        """Count one comparison of ``name``."""
        pair = self.counts.setdefault(name, [0, 0])
        pair[0] += agrees
        pair[1] += 1

    def ratio(self, name: str) -> float:
        """Share of agreeing documents for ``name`` (1.0 when never compared)."""
        agree, total = self.counts.get(name, [0, 0])
        return agree / total if total else 1.0


def expected_documents(corpus: Path, log: str) -> list[dict[str, Any]]:
    """Elastic's expected documents for ``log``, flattened, in input order."""
    base = corpus / "elastic-pipeline-tests" / log
    compact = base.with_name(base.name.removesuffix(".log") + ".expected.jsonl")
    if compact.is_file():
        return [json.loads(line) for line in compact.read_text().splitlines() if line.strip()]
    whole = base.with_name(base.name + "-expected.json")
    return [from_nested(doc) for doc in json.loads(whole.read_text())["expected"]]


def cases(corpus: Path, spec: ElasticFile) -> Iterator[tuple[str, dict[str, Any]]]:
    """(input line, expected document) pairs; lines without an expected document are left out."""
    lines = (corpus / "elastic-pipeline-tests" / spec.path).read_text().splitlines()
    yield from zip(lines, expected_documents(corpus, spec.path), strict=False)


def _same(name: str, ours: Any, theirs: Any) -> bool:
    if name == "@timestamp":
        return isinstance(ours, str) and parse_timestamp(ours) == parse_timestamp(theirs)
    if name in CASELESS and isinstance(ours, str) and isinstance(theirs, str):
        return ours.lower() == theirs.lower()
    return bool(ours == theirs)


def measure(parsers: dict[str, Parser], corpus: Path) -> dict[str, Agreement]:
    """Agreement per parser name over every file in ``FILES``."""
    results: dict[str, Agreement] = {}
    for spec in FILES:
        if spec.parser not in parsers:
            continue
        parser = parsers[spec.parser]
        result = results.setdefault(spec.parser, Agreement())
        received = datetime.fromisoformat(spec.received.replace("Z", "+00:00")).astimezone(UTC)
        for number, (line, doc) in enumerate(cases(corpus, spec), 1):
            result.lines += 1
            if "error.message" in doc or set(doc) <= {"event.original", "message"}:
                continue  # Elastic could not parse it either
            record = RawRecord(
                line,
                f"file://{spec.path}",
                received.timestamp(),
                str(number),
                timezone=spec.timezone,
            )
            try:
                ours = parser.parse(record)[0]
            except ParseError as exc:
                result.errors.append(f"{spec.path}:{number}: {exc}")
                ours = {}
            for name in FIELDS:
                if name in doc and name not in spec.skip:
                    agrees = _same(name, ours.get(name), doc[name])
                    result.add(name, agrees)
                    if not agrees:
                        result.mismatches.append(
                            f"{spec.path}:{number} {name}: "
                            f"ours={ours.get(name)!r} elastic={doc[name]!r}"
                        )
    return results


def table(results: dict[str, Agreement]) -> str:
    """The agreement table as text: one row per parser, one column per field."""
    short = [name.replace("destination", "dst").replace("source", "src") for name in FIELDS]
    rows = ["parser".ljust(20) + "lines " + " ".join(f"{name:>15}" for name in short)]
    for parser, result in sorted(results.items()):
        cells = []
        for name in FIELDS:
            agree, total = result.counts.get(name, [0, 0])
            cells.append(f"{agree:>3}/{total:<3} {agree / total:4.0%}" if total else "-")
        rows.append(
            parser.ljust(20) + f"{result.lines:>5} " + " ".join(f"{cell:>15}" for cell in cells)
        )
    return "\n".join(rows)


def main() -> None:
    """Print the table for every parser in the catalog, and the mismatches."""
    from collectors.parsers.catalog import PARSERS, load_parser
    from tests.conftest import corpus_path

    names = {spec.parser for spec in FILES if spec.parser in PARSERS}
    results = measure({name: load_parser(name) for name in names}, corpus_path())
    print(table(results))
    for result in results.values():
        for line in result.errors + result.mismatches:
            print(line)


if __name__ == "__main__":
    main()
