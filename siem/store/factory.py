"""Open the store the configuration names."""

from __future__ import annotations

from pathlib import Path

from siem.config import Config
from siem.errors import StoreError
from siem.store.base import Store


def open_store(config: Config, data_dir: Path) -> Store:
    """The configured store, opened and migrated (SQLite in ``data_dir`` by default)."""
    backend = config.store.backend
    if backend == "sqlite":
        from siem.store.sqlite import SqliteStore

        return SqliteStore(data_dir / config.store.sqlite_file, fsync=config.pipeline.fsync)
    if backend == "elasticsearch":
        # Imported here: the client is only loaded when this backend is chosen.
        from siem.store.elasticsearch.seals import head_path
        from siem.store.elasticsearch.store import ElasticsearchStore

        return ElasticsearchStore(config.store.elasticsearch,
                                  seal_head=head_path(data_dir, config.store.elasticsearch),
                                  lifecycle_delete_days=config.store.retention.max_age_days)
    raise StoreError(
        f"unknown store backend {backend!r}; use 'sqlite' or 'elasticsearch'",
        path=config.source_file,
    )
