"""Asset inventory: loading, longest-prefix lookup, labels on events."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem.enrich.inventory import Inventory, InventoryEnricher
from siem.errors import ConfigError
from siem.yamlfile import load_yaml_text
from tests.conftest import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "inventory.yaml"


def test_example_inventory_has_city_and_nine_wards() -> None:
    inventory = Inventory.load(EXAMPLE)
    assert len(inventory.sites) == 10
    assert inventory.sites["ward-3"].name_vi == "Phường 3"
    assert all(asset.site in inventory.sites for asset in inventory.assets)


def test_longest_prefix_wins() -> None:
    inventory = Inventory.from_mapping(
        load_yaml_text(
            "sites:\n"
            "  - id: ward-1\n"
            "    zones:\n"
            "      - {id: office, cidrs: [10.1.0.0/16]}\n"
            "      - {id: camera, cidrs: [10.1.64.0/22, 'fd00:1::/64']}\n"
            "devices:\n"
            "  - {name: cam-1, ip: 10.1.64.5, type: camera, owner: Ward 1 IT}\n"
        )
    )
    assert inventory.locate("10.1.2.3").zone == "office"  # type: ignore[union-attr]
    assert inventory.locate("10.1.65.1").zone == "camera"  # type: ignore[union-attr]
    assert inventory.locate("fd00:1::7").zone == "camera"  # type: ignore[union-attr]
    found = inventory.locate("10.1.64.5")
    assert found is not None and found.asset is not None and found.asset.name == "cam-1"
    assert found.zone == "camera"
    assert inventory.locate("192.0.2.1") is None
    assert inventory.locate("not-an-ip") is None


def test_enricher_labels_origin_and_both_ends() -> None:
    enricher = InventoryEnricher(Inventory.load(EXAMPLE), default_site="city")
    event = {"observer.ip": "10.3.0.1", "source.ip": "203.0.113.9", "destination.ip": "10.3.64.12"}
    enricher.enrich(event)
    assert event["labels.site"] == "ward-3"
    assert event["labels.asset_name"] == "ward3-fw"
    assert event["labels.destination_zone"] == "camera"
    assert event["labels.destination_asset"] == "ward3-cam-002"
    assert "labels.source_site" not in event

    outside = {"source.ip": "198.51.100.1"}
    enricher.enrich(outside)
    assert outside["labels.site"] == "city"
    assert "labels.zone" not in outside


def test_errors_name_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("sites:\n  - id: w1\n    zones:\n      - {id: camera, cidrs: [10.1.0.0/33]}\n")
    with pytest.raises(ConfigError, match="cidrs") as caught:
        Inventory.load(path)
    assert caught.value.line == 4
    path.write_text("sites: []\ndevices:\n  - {name: x, ip: 10.9.9.9}\n")
    with pytest.raises(ConfigError, match="no site"):
        Inventory.load(path)
    path.write_text("sites: []\nwards: []\n")
    with pytest.raises(ConfigError, match=r"unknown key inventory\.wards"):
        Inventory.load(path)


def test_device_found_by_host_name_when_no_address_matches() -> None:
    enricher = InventoryEnricher(Inventory.load(EXAMPLE), default_site="city")
    event = {"host.hostname": "WARD3-CAM-001", "source.ip": "203.0.113.9"}
    enricher.enrich(event)
    assert event["labels.site"] == "ward-3"
    assert event["labels.zone"] == "camera"
    assert event["labels.asset_type"] == "camera"
