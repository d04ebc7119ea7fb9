"""Our flows, DNS, HTTP and TLS fields against tshark on every corpus pcap.

Known, explained differences (kept in the thresholds below, printed in the table):
- IP fragments: we count every fragment in the flow of its datagram; tshark counts a reassembled
  datagram once, in the frame of its last fragment (dns/zeek__dns-edns-ecs, ipv6-fragmented-dns).
- TLS inside QUIC (needs decryption of Initial packets) and inside OpenVPN framing: not parsed.
- We parse a TLS Client Hello inside RDP and an SSDP NOTIFY; tshark shows neither as such.
- tshark accepts malformed request lines (``CCM_POST``) that we do not.
- SSH on ports other than 22 (2200, ephemeral pairs): tshark does not dissect it, we do.
- Retransmitted TCP segments are left out on tshark's side (we never parse one twice).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.collectors.pcap.tshark_compare import (
    Agreement,
    agreement_table,
    cached_tshark,
    compare,
    dump,
    our_view,
)

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def test_agreement_with_tshark(corpus_dir: Path, request: pytest.FixtureRequest) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    files = sorted(
        p for p in (corpus_dir / "pcaps").glob("*/*") if p.suffix in (".pcap", ".pcapng")
    )
    assert len(files) > 90
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    with ThreadPoolExecutor(2) as pool:
        views = list(pool.map(lambda p: cached_tshark(p, cache), files))
    results: dict[str, Agreement] = {}
    for path, theirs in zip(files, views, strict=True):
        results.setdefault(path.parent.name, Agreement()).add(
            compare(path.name, our_view(path), theirs)
        )
    table = agreement_table(results)
    print("\n" + table)
    total = Agreement()
    for row in results.values():
        total.add(row)
    detail = table + "\n" + dump(results)
    assert total.conversations_total > 3000, detail
    # Only the fragmented DNS conversations differ (see the module docstring).
    assert total.conversations_total - total.conversations <= 6, detail
    for group, row in results.items():
        if group != "dns":
            assert row.conversations == row.conversations_total, detail
    assert total.fields_total > 2400, detail
    assert total.fields / total.fields_total >= 0.98, detail
    for group in ("tls", "http", "camera-iot", "ics", "mail", "dhcp", "dns"):
        row = results[group]
        assert row.fields >= 0.95 * row.fields_total, detail
    # Every banner tshark shows, we show too; ours has more (non-standard ports).
    assert results["ssh"].fields >= 0.9 * results["ssh"].fields_total, detail
