"""Asset inventory: sites, zones, networks and devices, and the enricher that labels events.

Every event gets ``labels.site`` and ``labels.zone`` of where it came from (observer, then host,
then source, then destination address; else the device named in the log's host name), ``labels.source_site/zone`` and
``labels.destination_site/zone`` for each end, and the asset's name, type and owner where the
address is a known device. Lookups are longest-prefix matches over the configured CIDRs, with a
bounded cache per address string (the same few thousand addresses repeat all day).

File format (YAML)::

    sites:
      - id: ward-3
        name: {en: Ward 3, vi: Phường 3}
        zones:
          - {id: camera, cidrs: [10.3.10.0/24]}
    devices:
      - {name: cam-w3-001, ip: 10.3.10.21, type: camera, vendor: hikvision, owner: Ward 3 IT}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siem import event as ecs
from siem.errors import ConfigError
from siem.event import Event
from siem.yamlfile import LocatedDict, load_yaml_file

ZONES = ("camera", "public_wifi", "office", "operations", "servers", "network", "dmz", "internet")

_ORIGIN_FIELDS = (ecs.OBSERVER_IP, ecs.HOST_IP, ecs.SOURCE_IP, ecs.DESTINATION_IP)
#: Host names that identify the device a log came from (when no address is known).
_ORIGIN_NAMES = (ecs.OBSERVER_HOSTNAME, "host.hostname", ecs.HOST_NAME)
_CACHE_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class Asset:
    """A device the city knows: a camera, an NVR, a switch, a server."""

    name: str
    ip: str
    site: str
    zone: str | None = None
    type: str | None = None
    vendor: str | None = None
    owner: str | None = None
    mac: str | None = None
    #: Expected to send logs (compliance checks look for silent sources).
    expected_to_log: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """The city centre or a ward, with names in English and Vietnamese."""

    id: str
    name_en: str
    name_vi: str


@dataclass(frozen=True, slots=True)
class Location:
    """What an address resolves to."""

    site: str
    zone: str | None
    asset: Asset | None = None


@dataclass
class Inventory:
    """Sites, networks and devices, with a longest-prefix lookup."""

    sites: dict[str, Site] = field(default_factory=dict)
    assets: list[Asset] = field(default_factory=list)
    #: (prefix length, network as int) -> Location, per IP version.
    _v4: dict[int, dict[int, Location]] = field(default_factory=dict, repr=False)
    _v6: dict[int, dict[int, Location]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, Location] = field(default_factory=dict, repr=False)
    _v4_lengths: list[int] = field(default_factory=list, repr=False)
    _v6_lengths: list[int] = field(default_factory=list, repr=False)

    def add_network(self, cidr: str, location: Location) -> None:
        """Register a network; a longer prefix wins over a shorter one."""
        network = ipaddress.ip_network(cidr, strict=False)
        table = self._v4 if network.version == 4 else self._v6
        table.setdefault(network.prefixlen, {})[int(network.network_address)] = location
        lengths = sorted(table, reverse=True)
        if network.version == 4:
            self._v4_lengths = lengths
        else:
            self._v6_lengths = lengths

    def add_asset(self, asset: Asset) -> None:
        """Register a device; its address becomes a host route carrying the asset."""
        self.assets.append(asset)
        known = self.locate(asset.ip)
        zone = asset.zone or (known.zone if known else None)
        bits = 32 if ":" not in asset.ip else 128
        location = self._by_name[asset.name.lower()] = Location(asset.site, zone, asset)
        self.add_network(f"{asset.ip}/{bits}", location)

    def locate(self, address: str) -> Location | None:
        """The most specific location of an address, or None (also for a non-address)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        value = int(ip)
        if ip.version == 4:
            table, lengths, width = self._v4, self._v4_lengths, 32
        else:
            table, lengths, width = self._v6, self._v6_lengths, 128
        for length in lengths:
            key = (value >> (width - length)) << (width - length) if length else 0
            found = table[length].get(key)
            if found is not None:
                return found
        return None

    def locate_name(self, name: str) -> Location | None:
        """The location of the device with this name (case-insensitive), or None."""
        return self._by_name.get(name.lower())

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        """Read an inventory YAML file; errors name the file, line and key."""
        raw = load_yaml_file(path)
        return cls.from_mapping(raw, str(path))

    @classmethod
    def from_mapping(cls, raw: Any, path: str = "<inventory>") -> Inventory:
        """Build from parsed YAML (see the module docstring for the shape)."""
        if not isinstance(raw, dict):
            raise ConfigError("inventory must be a mapping with 'sites' and 'devices'", path=path)
        _reject_unknown(raw, ("sites", "devices"), "inventory", path)
        inventory = cls()
        for site_raw in _list(raw, "sites", path):
            _reject_unknown(site_raw, ("id", "name", "zones"), "sites[]", path)
            site_id = _text(site_raw, "id", path)
            names = site_raw.get("name") or {}
            if isinstance(names, str):
                names = {"en": names, "vi": names}
            inventory.sites[site_id] = Site(
                site_id, str(names.get("en", site_id)), str(names.get("vi", names.get("en", site_id)))
            )
            for zone_raw in _list(site_raw, "zones", path):
                _reject_unknown(zone_raw, ("id", "cidrs"), f"sites[{site_id}].zones[]", path)
                zone_id = _text(zone_raw, "id", path)
                for cidr in _list(zone_raw, "cidrs", path):
                    try:
                        inventory.add_network(str(cidr), Location(site_id, zone_id))
                    except ValueError as exc:
                        raise ConfigError(
                            f"sites[{site_id}].zones[{zone_id}].cidrs: {exc}",
                            path=path,
                            line=_line(zone_raw, "cidrs"),
                        ) from exc
        asset_keys = tuple(Asset.__dataclass_fields__)
        for device_raw in _list(raw, "devices", path):
            _reject_unknown(device_raw, asset_keys, "devices[]", path)
            ip = _text(device_raw, "ip", path)
            try:
                ipaddress.ip_address(ip)
            except ValueError as exc:
                raise ConfigError(f"devices[].ip: {exc}", path=path, line=_line(device_raw, "ip")) from exc
            site = device_raw.get("site")
            if site is None:
                known = inventory.locate(ip)
                site = known.site if known else None
            if site is None:
                raise ConfigError(
                    f"device {device_raw.get('name', ip)!r} has no site and no zone network contains {ip}",
                    path=path,
                    line=_line(device_raw, "ip"),
                )
            values = {key: device_raw[key] for key in asset_keys if key in device_raw}
            values.update(ip=ip, site=str(site), name=_text(device_raw, "name", path))
            inventory.add_asset(Asset(**values))
        return inventory


class InventoryEnricher:
    """Labels events with site, zone and asset from an Inventory."""

    def __init__(self, inventory: Inventory, default_site: str) -> None:
        self.inventory = inventory
        self.default_site = default_site
        self._cache: dict[str, Location | None] = {}

    def _locate(self, address: str) -> Location | None:
        cache = self._cache
        if address in cache:
            return cache[address]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        found = cache[address] = self.inventory.locate(address)
        return found

    def _locate_name(self, event: Event) -> Location | None:
        for name in _ORIGIN_NAMES:
            host = event.get(name)
            if isinstance(host, str):
                found = self.inventory.locate_name(host)
                if found is not None:
                    return found
        return None

    def enrich(self, event: Event) -> None:
        """Set labels.* for the event's origin and both ends (existing labels are kept)."""
        origin: Location | None = None
        for name in _ORIGIN_FIELDS:
            address = event.get(name)
            if isinstance(address, str):
                origin = self._locate(address)
                if origin is not None:
                    break
        if origin is None:
            origin = self._locate_name(event)
        if ecs.LABEL_SITE not in event:
            event[ecs.LABEL_SITE] = origin.site if origin else self.default_site
        if origin is not None:
            if origin.zone is not None and ecs.LABEL_ZONE not in event:
                event[ecs.LABEL_ZONE] = origin.zone
            if origin.asset is not None:
                _label_asset(event, origin.asset)
        for end in ("source", "destination"):
            address = event.get(f"{end}.ip")
            if isinstance(address, str):
                found = self._locate(address)
                if found is not None:
                    event[f"labels.{end}_site"] = found.site
                    if found.zone is not None:
                        event[f"labels.{end}_zone"] = found.zone
                    if found.asset is not None:
                        event[f"labels.{end}_asset"] = found.asset.name


def _label_asset(event: Event, asset: Asset) -> None:
    event["labels.asset_name"] = asset.name
    if asset.type:
        event["labels.asset_type"] = asset.type
    if asset.owner:
        event["labels.asset_owner"] = asset.owner


def _reject_unknown(raw: Any, allowed: Iterable[str], where: str, path: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping", path=path)
    allowed = tuple(allowed)
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {where}.{key} (known: {', '.join(allowed)})", path=path, line=_line(raw, key)
            )


def _list(raw: dict[str, Any], key: str, path: str) -> list[Any]:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list", path=path, line=_line(raw, key))
    return value


def _text(raw: dict[str, Any], key: str, path: str) -> str:
    value = raw.get(key)
    if value is None or isinstance(value, dict | list):
        raise ConfigError(f"{key} is required and must be text", path=path, line=_line(raw, key))
    return str(value)


def _line(raw: Any, key: str) -> int | None:
    return raw.line_of(key) if isinstance(raw, LocatedDict) else None
