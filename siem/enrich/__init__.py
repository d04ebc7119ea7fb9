"""Enrichment: context added to events after parsing (asset inventory, GeoIP)."""
