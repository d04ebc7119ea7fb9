"""The Elasticsearch backend of the store (``store.elasticsearch`` in siem.yaml).

Kept free of imports: siem.config reads the settings class from ``config.py`` without loading
the client. The store is ``siem.store.elasticsearch.store.ElasticsearchStore``; the search
language's query DSL is ``query.to_dsl``. See docs/elasticsearch.md.
"""
