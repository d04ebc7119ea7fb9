"""Store fixtures: a store of each backend (the contract suite runs against all of them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siem import event as ecs
from siem.config import Config, StoreConfig
from siem.store.base import Store
from siem.store.factory import open_store
from tests.store import es_cluster

#: Every backend the contract suite runs against. Adding one is a one-line change here.
BACKENDS = ["sqlite", "elasticsearch"]

#: A moment in the past all test events are placed around (2026-11-20T00:00:00Z).
BASE = 1795132800.0


def open_backend(backend: str, data_dir: Path) -> Store:
    """A fresh store of ``backend`` in ``data_dir`` (Elasticsearch: indices named after it)."""
    if backend == "elasticsearch":
        (cluster,) = es_cluster.current
        config = StoreConfig(backend=backend, elasticsearch=cluster.config(data_dir))
        return open_store(Config(store=config), data_dir)
    return open_store(Config(store=StoreConfig(backend=backend)), data_dir)


@pytest.fixture(scope="session")
def es_test_cluster() -> Iterator[es_cluster.Cluster]:
    """The Elasticsearch-compatible cluster of this session (see es_cluster.py)."""
    yield from es_cluster.start_cluster()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of each backend in turn (starting the test cluster for Elasticsearch)."""
    if request.param == "elasticsearch":
        request.getfixturevalue("es_test_cluster")
    return str(request.param)


@pytest.fixture
def store(backend: str, data_dir: Path) -> Iterator[Store]:
    """An empty store of each backend, closed (and its indices deleted) after the test."""
    opened = open_backend(backend, data_dir)
    yield opened
    opened.close()
    if backend == "elasticsearch":
        es_cluster.delete_indices(es_cluster.current[0], data_dir)


def syslog_event(
    line: str, *, at: float, index: int = 0, **fields: Any
) -> ecs.Event:
    """A flat event as the syslog parser makes it, with a stable id from line and index."""
    event: ecs.Event = {
        ecs.TIMESTAMP: ecs.format_timestamp(at),
        ecs.ID: ecs.make_event_id(line, str(index), str(at)),
        ecs.KIND: "event",
        ecs.DATASET: "syslog",
        ecs.ORIGINAL: line,
        ecs.HOST_NAME: "combo",
    }
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


SSH_FAIL = (
    "<38>Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0"
    " euid=0 tty=NODEVssh ruser= rhost=218.188.2.4"
)
SU_OPEN = "<86>Jun 15 04:06:18 combo su(pam_unix)[21416]: session opened for user cyrus by (uid=0)"
FTPD = "<30>Jun 17 07:07:00 combo ftpd[29504]: connection from 24.54.76.216 at Fri Jun 17 07:07:00"
VIETNAMESE = "<38>Nov 25 10:00:00 cam-07 login: Đăng nhập thất bại, sai mật khẩu cho người dùng admin"
