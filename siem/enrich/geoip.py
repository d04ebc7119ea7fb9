"""GeoIP: country, city, location and network owner of public addresses, from MaxMind DB files.

Reads the MaxMind DB format (GeoLite2/GeoIP2 City or Country, and ASN databases) with the
``maxminddb`` package; the database files come from MaxMind under their licence (a free
account gives GeoLite2), never with this project. Only global
addresses are looked up: private, loopback and link-local ones belong to the inventory.

Fields written (ECS), for ``source`` and ``destination``: ``<end>.geo.country_iso_code``,
``<end>.geo.country_name``, ``<end>.geo.city_name``, ``<end>.geo.location`` (``{lat, lon}``),
``<end>.as.number`` and ``<end>.as.organization.name``. Results are cached per address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siem import event as ecs
from siem.errors import ConfigError
from siem.event import Event

_ENDS = (("source", ecs.SOURCE_IP), ("destination", ecs.DESTINATION_IP))
_CACHE_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class GeoIpConfig:
    """MaxMind DB files (either may be left out); nothing is looked up when both are."""

    #: A City or Country database (GeoLite2-City.mmdb, GeoIP2-Country.mmdb, ...).
    city_db: str | None = None
    #: An ASN database (GeoLite2-ASN.mmdb).
    asn_db: str | None = None
    #: Language of country and city names (a key of the database's ``names``).
    language: str = "en"

    @property
    def enabled(self) -> bool:
        """Whether any database is configured."""
        return bool(self.city_db or self.asn_db)


def _open(path: str, key: str) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"cannot open the MaxMind database '{key}': {exc}", path=Path(path)) from exc


class GeoIpEnricher:
    """Adds geo and network-owner fields for the public source and destination addresses."""

    def __init__(self, config: GeoIpConfig) -> None:
        self._language = config.language
        self._city = _open(config.city_db, "geoip.city_db") if config.city_db else None
        self._asn = _open(config.asn_db, "geoip.asn_db") if config.asn_db else None
        self._cache: dict[str, dict[str, Any]] = {}

    def enrich(self, event: Event) -> None:
        """Add ``<end>.geo.*`` and ``<end>.as.*`` for each public address of the event."""
        for end, ip_field in _ENDS:
            address = event.get(ip_field)
            if address.__class__ is not str:
                continue
            fields = self._cache.get(address)
            if fields is None:
                fields = self._lookup(address)
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[address] = fields
            for name, value in fields.items():
                event[f"{end}.{name}"] = value

    def lookup(self, address: str) -> dict[str, Any]:
        """The fields for one address (relative to ``source.``/``destination.``); {} if none."""
        return dict(self._lookup(address))

    def _lookup(self, address: str) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return {}
        if not ip.is_global:
            return {}
        fields: dict[str, Any] = {}
        if self._city is not None:
            fields.update(self._city_fields(self._city.get(address)))
        if self._asn is not None:
            record = self._asn.get(address)
            if isinstance(record, dict):
                if isinstance(number := record.get("autonomous_system_number"), int):
                    fields["as.number"] = number
                if isinstance(owner := record.get("autonomous_system_organization"), str):
                    fields["as.organization.name"] = owner
        return fields

    def _city_fields(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            return {}
        fields: dict[str, Any] = {}
        country = record.get("country")
        if isinstance(country, dict):
            if isinstance(code := country.get("iso_code"), str):
                fields["geo.country_iso_code"] = code
            if (name := self._name(country)) is not None:
                fields["geo.country_name"] = name
        city = record.get("city")
        if isinstance(city, dict) and (name := self._name(city)) is not None:
            fields["geo.city_name"] = name
        location = record.get("location")
        if isinstance(location, dict):
            lat, lon = location.get("latitude"), location.get("longitude")
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                fields["geo.location"] = {"lat": float(lat), "lon": float(lon)}
        return fields

    def _name(self, entry: dict[str, Any]) -> str | None:
        names = entry.get("names")
        if not isinstance(names, dict):
            return None
        name = names.get(self._language, names.get("en"))
        return name if isinstance(name, str) else None

    def close(self) -> None:
        """Close the database files."""
        for reader in (self._city, self._asn):
            if reader is not None:
                reader.close()
