"""Report fixtures: the stores of tests/store (each backend) and the SMTP server of tests/notify."""

from __future__ import annotations

from tests.notify.conftest import plain_server, recorder, smtp_port
from tests.store.conftest import backend, es_test_cluster, store

__all__ = ["backend", "es_test_cluster", "plain_server", "recorder", "smtp_port", "store"]
