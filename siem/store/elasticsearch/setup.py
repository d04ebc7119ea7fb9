"""``siem es setup`` and ``siem es status``: templates, lifecycle policy, cluster overview.

Installed idempotently (each PUT replaces the previous version of the same name):
- component templates ``<prefix>-ecs-settings`` and ``<prefix>-ecs-mappings`` (mapping.py),
- an ILM policy ``<prefix>-events``: roll over by size or age, delete after the retention
  (https://www.elastic.co/guide/en/elasticsearch/reference/current/index-lifecycle-management.html),
- a composable index template ``<prefix>-events`` for ``<prefix>-events-*`` that makes each
  dataset a data stream using that policy
  (https://www.elastic.co/guide/en/elasticsearch/reference/current/index-templates.html).
A server without ILM or data streams (OpenSearch, the osmem emulator) gets the templates
without them, and the items it lacks are reported "not supported by this server".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError

from siem.errors import StoreError
from siem.store.elasticsearch import mapping
from siem.store.elasticsearch.cluster import Cluster, reason_of, status_of
from siem.store.elasticsearch.config import ElasticsearchConfig

INSTALLED = "installed"
UNSUPPORTED = "not supported by this server"
FAILED = "failed"
PRESENT = "present"
MISSING = "missing"


@dataclass(frozen=True, slots=True)
class SetupItem:
    """One thing ``siem es setup`` installs, and what became of it."""

    kind: str
    name: str
    outcome: str
    detail: str = ""


def _unsupported(exc: StoreError) -> bool:
    """True when the server lacks the API (no handler, unknown or unsupported operation)."""
    cause = exc.__cause__
    if cause is None:
        return False
    status = status_of(cause)
    text = str(exc).lower()
    return status in (400, 404, 405, 501) and (
        "no handler" in text or "unsupported" in text or "not supported" in text
        or "unknown" in text or "invalid_index_name" in text
    )


def _try(item: tuple[str, str], what: str, cluster: Cluster, request: Any,
          **kwargs: Any) -> SetupItem:
    """Run one install request; its failure becomes the item's outcome, not an exception."""
    kind, label = item
    try:
        cluster.call(what, request, **kwargs)
    except StoreError as exc:
        if _unsupported(exc):
            return SetupItem(kind, label, UNSUPPORTED)
        return SetupItem(kind, label, FAILED, exc.message)
    return SetupItem(kind, label, INSTALLED)


def lifecycle_policy(config: ElasticsearchConfig, retention_days: int) -> dict[str, Any]:
    """The ILM policy: roll over at the configured size or age; delete after the retention."""
    phases: dict[str, Any] = {
        "hot": {"actions": {"rollover": {
            "max_primary_shard_size": f"{config.rollover_max_size_gb}gb",
            "max_age": f"{config.rollover_max_age_days}d",
        }}}
    }
    if retention_days > 0:
        phases["delete"] = {"min_age": f"{retention_days}d", "actions": {"delete": {}}}
    return {"phases": phases}


def _supports_data_streams(cluster: Cluster) -> bool:
    """Create and delete a probe data stream (listing them is not enough: some servers list
    none but cannot create one). Needs the events template with ``data_stream`` in place."""
    probe = f"{cluster.config.index_prefix}-events-setup-probe"
    try:
        cluster.call("cannot create a data stream", cluster.client.indices.create_data_stream,
                     name=probe)
    except StoreError as exc:
        if _unsupported(exc):
            return False
        raise
    cluster.call("cannot delete the probe data stream",
                 cluster.client.indices.delete_data_stream, name=probe)
    return True


def install(cluster: Cluster, *, retention_days: int) -> list[SetupItem]:
    """Install the policy and templates; one item per thing, errors reported per item."""
    config = cluster.config
    prefix = config.index_prefix
    client = cluster.client
    policy = f"{prefix}-events"
    items = [_try(("lifecycle policy", policy), "cannot install the lifecycle policy", cluster,
                  client.ilm.put_lifecycle, name=policy,
                  policy=lifecycle_policy(config, retention_days))]
    with_ilm = items[0].outcome == INSTALLED
    settings = mapping.event_settings()
    if with_ilm:
        settings["index.lifecycle.name"] = policy
    components = {
        f"{prefix}-ecs-settings": {"settings": settings},
        f"{prefix}-ecs-mappings": {"mappings": mapping.event_mappings()},
    }
    for name, component in components.items():
        items.append(_try(("component template", name), "cannot install a component template",
                          cluster, client.cluster.put_component_template,
                          name=name, template=component))
    body: dict[str, Any] = {
        "name": f"{prefix}-events",
        "index_patterns": [f"{prefix}-events-*"],
        "composed_of": list(components),
        "priority": 200,
        "meta": {"managed_by": "siem", "schema_version": mapping.SCHEMA_VERSION},
        "data_stream": {},
    }
    template = _try(("index template", f"{prefix}-events"), "cannot install the index template",
                    cluster, client.indices.put_index_template, **body)
    streams = template.outcome == INSTALLED and _supports_data_streams(cluster)
    if not streams:
        # Plain indices per dataset, still with the ECS mappings.
        del body["data_stream"]
        template = _try(("index template", f"{prefix}-events"),
                        "cannot install the index template", cluster,
                        client.indices.put_index_template, **body)
    items.append(template)
    items.append(SetupItem("data streams", f"{prefix}-events-*",
                           INSTALLED if streams else UNSUPPORTED,
                           "" if streams else "plain indices per dataset are used"))
    return items


def _exists(cluster: Cluster, what: str, request: Any, **kwargs: Any) -> str:
    try:
        cluster.call(what, request, **kwargs)
    except StoreError as exc:
        if exc.__cause__ is not None and status_of(exc.__cause__) == 404:
            return MISSING
        if _unsupported(exc):
            return UNSUPPORTED
        raise
    return PRESENT


def status(cluster: Cluster) -> dict[str, Any]:
    """Cluster name, version, health, the store's indices (documents, size) and whether
    the templates and policy are installed."""
    client = cluster.client
    prefix = cluster.config.index_prefix
    info = cluster.call("cannot read the cluster information", client.info).body
    health = cluster.call("cannot read cluster health", client.cluster.health).body
    rows: list[dict[str, Any]] = cluster.call(
        "cannot list indices", client.cat.indices, index=f"{prefix}-*", format="json"
    ).body  # type: ignore[assignment]
    indices = sorted(
        ({"index": row["index"], "docs": int(row.get("docs.count") or 0),
          "size": row.get("store.size") or "0b", "health": row.get("health", "")}
         for row in rows),
        key=lambda row: str(row["index"]),
    )
    version = info.get("version", {})
    templates = {
        f"index template {prefix}-events": _exists(
            cluster, "cannot read templates", client.indices.get_index_template,
            name=f"{prefix}-events"),
        f"component template {prefix}-ecs-settings": _exists(
            cluster, "cannot read templates", client.cluster.get_component_template,
            name=f"{prefix}-ecs-settings"),
        f"component template {prefix}-ecs-mappings": _exists(
            cluster, "cannot read templates", client.cluster.get_component_template,
            name=f"{prefix}-ecs-mappings"),
        f"lifecycle policy {prefix}-events": _exists(
            cluster, "cannot read lifecycle policies", client.ilm.get_lifecycle,
            name=f"{prefix}-events"),
    }
    return {
        "hosts": cluster.hosts,
        "cluster": info.get("cluster_name", ""),
        "version": version.get("number", ""),
        "distribution": version.get("distribution", "elasticsearch"),
        "health": health.get("status", ""),
        "indices": indices,
        "dead_letters": next((row["docs"] for row in indices
                              if row["index"] == f"{prefix}-deadletter"), 0),
        "templates": templates,
    }


def open_cluster(config: ElasticsearchConfig) -> Cluster:
    """A connection to the configured cluster (no request made yet)."""
    return Cluster(config)


def explain(exc: StoreError) -> str:
    """The server's reason behind a StoreError, when it has one."""
    cause = exc.__cause__
    return reason_of(cause) if isinstance(cause, ApiError) else exc.message
