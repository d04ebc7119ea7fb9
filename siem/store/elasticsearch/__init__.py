"""The Elasticsearch backend of the store (query translation; the client lives elsewhere)."""
