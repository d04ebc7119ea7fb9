"""GeoIP enrichment from real MaxMind DB files (written here with mmdb-writer, read with maxminddb)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from cli import root
from siem.enrich.geoip import GeoIpConfig, GeoIpEnricher
from siem.errors import ConfigError

# Example data for the test, not real geography: two public blocks and their owners.
CITY_NETWORKS = {
    "198.51.200.0/24": {
        "country": {"iso_code": "VN", "names": {"en": "Vietnam", "de": "Vietnam"}},
        "city": {"names": {"en": "Hanoi"}},
        "location": {"latitude": 21.0285, "longitude": 105.8542},
    },
    "2a00:1450::/32": {"country": {"iso_code": "IE", "names": {"en": "Ireland"}}},
}
ASN_NETWORKS = {
    "198.51.200.0/24": {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Net"},
}


def _write(path: Path, database_type: str, networks: dict[str, dict[str, object]]) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"])
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def databases(tmp_path: Path) -> GeoIpConfig:
    return GeoIpConfig(
        city_db=str(_write(tmp_path / "city.mmdb", "GeoLite2-City", CITY_NETWORKS)),
        asn_db=str(_write(tmp_path / "asn.mmdb", "GeoLite2-ASN", ASN_NETWORKS)),
    )


def test_public_addresses_get_geo_and_owner(databases: GeoIpConfig) -> None:
    enricher = GeoIpEnricher(databases)
    event = {"source.ip": "198.51.200.7", "destination.ip": "2a00:1450::1", "user.name": "root"}
    enricher.enrich(event)
    assert event["source.geo.country_iso_code"] == "VN"
    assert event["source.geo.country_name"] == "Vietnam"
    assert event["source.geo.city_name"] == "Hanoi"
    assert event["source.geo.location"] == {"lat": pytest.approx(21.0285), "lon": pytest.approx(105.8542)}
    assert event["source.as.number"] == 64500
    assert event["source.as.organization.name"] == "Example Net"
    assert event["destination.geo.country_iso_code"] == "IE"
    assert "destination.as.number" not in event
    enricher.close()


def test_private_unknown_and_malformed_addresses_get_nothing(databases: GeoIpConfig) -> None:
    enricher = GeoIpEnricher(databases)
    for address in ("10.3.10.21", "127.0.0.1", "fe80::1", "8.8.4.4", "not-an-ip", "999.1.1.1"):
        event = {"source.ip": address}
        enricher.enrich(event)
        assert event == {"source.ip": address}, address
    enricher.close()


def test_bad_database_names_the_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a maxmind database" * 10)
    with pytest.raises(ConfigError, match=r"geoip\.city_db"):
        GeoIpEnricher(GeoIpConfig(city_db=str(broken)))
    with pytest.raises(ConfigError, match=r"geoip\.asn_db"):
        GeoIpEnricher(GeoIpConfig(asn_db=str(tmp_path / "missing.mmdb")))


def test_ingested_events_carry_geo(databases: GeoIpConfig, tmp_path: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ngeoip:\n  city_db: {databases.city_db}\n  asn_db: {databases.asn_db}\n"
    )
    log = tmp_path / "auth.log"
    log.write_text(
        "<38>Nov 25 10:00:00 gw-w3 sshd[811]: Failed password for root from 198.51.200.9 port 52144 ssh2\n"
    )
    runner = CliRunner()
    result = runner.invoke(root, ["--config", str(config), "ingest", str(log)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    found = runner.invoke(root, ["--config", str(config), "search", "source.geo.country_iso_code:VN", "--json"])
    assert found.exit_code == 0, found.output
    events = [json.loads(line) for line in found.stdout.splitlines() if line.strip()]
    assert len(events) == 1
    assert events[0]["source.as.organization.name"] == "Example Net"
