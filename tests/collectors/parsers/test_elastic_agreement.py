"""Our parsers against Elastic's own pipeline tests: per-parser, per-field agreement.

The ratios below were measured with ``python -m tests.collectors.parsers.elastic_cases``
(which prints the table and every mismatch) and are asserted as floors. Where we differ from
Elastic on purpose, the pair is listed in ``DELIBERATE`` with the reason and not asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.parsers.catalog import load_parser
from tests.collectors.parsers.elastic_cases import FIELDS, FILES, Agreement, measure, table

pytestmark = pytest.mark.corpus

#: parser -> field -> measured agreement (floor). Fields not listed are asserted at 1.0.
MEASURED: dict[str, dict[str, float]] = {
    "fortinet.fortigate": {"event.action": 0.50},
    "sophos.xg": {"network.transport": 0.50},
}
#: (parser, field) -> why our value differs from Elastic's by design.
DELIBERATE: dict[tuple[str, str], str] = {
    ("cisco.asa", "event.action"): "we keep Cisco's verb (deny, built, teardown); Elastic "
    "uses its own vocabulary (firewall-rule, flow-creation)",
    ("cisco.ftd", "event.action"): "as cisco.asa",
    ("panw.panos", "event.action"): "we keep PAN-OS' Action column (alert, allow, deny); Elastic "
    "names the log subtype (url_filtering)",
    (
        "checkpoint",
        "observer.vendor",
    ): "the vendor's name is 'Check Point'; Elastic writes 'Checkpoint'",
    ("opnsense", "observer.vendor"): "OPNsense is made by Deciso; Elastic's pfsense package labels "
    "both products 'netgate'",
}
# Also measured, below 1.0 for the reasons in MEASURED's keys:
# fortinet.fortigate event.action: for UTM logs Elastic uses 'eventtype' (infected, ftgd_blk,
#   signature); we keep FortiOS' 'action' (blocked, dropped, pass) as for traffic logs.
# sophos.xg network.transport: Elastic keeps the leading space of protocol=" ICMP" (' icmp').


@pytest.fixture(scope="module")
def results(corpus_dir: Path) -> dict[str, Agreement]:
    names = {spec.parser for spec in FILES}
    measured = measure({name: load_parser(name) for name in names}, corpus_dir)
    print("\n" + table(measured))
    return measured


@pytest.mark.parametrize("parser", sorted({spec.parser for spec in FILES}))
def test_agreement_with_elastic(results: dict[str, Agreement], parser: str) -> None:
    result = results[parser]
    assert result.lines > 0
    assert not result.errors, result.errors
    for field in FIELDS:
        if (parser, field) in DELIBERATE:
            continue
        floor = MEASURED.get(parser, {}).get(field, 1.0)
        ratio = result.ratio(field)
        mismatches = [line for line in result.mismatches if f" {field}: " in line]
        assert ratio >= floor, f"{parser} {field}: {ratio:.2f} < {floor}: {mismatches}"


def test_every_parser_measured_on_some_field(results: dict[str, Agreement]) -> None:
    for parser, result in results.items():
        compared = sum(total for _, total in result.counts.values())
        assert compared >= result.lines, f"{parser}: only {compared} field comparisons"
