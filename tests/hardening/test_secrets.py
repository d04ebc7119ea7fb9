"""Secrets and TLS policy through the real CLI: no secret on the command line, in any output
(logs, errors, ``--debug`` tracebacks, ``siem status``, ``siem es status``), and TLS that
verifies by default (SMTP with STARTTLS against aiosmtpd, Elasticsearch over https)."""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import click
import pytest
from elastic_transport import TlsError

from cli import root
from siem.errors import ConfigError
from siem.notify.config import SmtpConfig
from siem.notify.smtp import tls_context
from siem.store.elasticsearch.client import make_client
from siem.store.elasticsearch.config import ElasticsearchConfig
from tests.conftest import PROJECT_ROOT, free_port
from tests.hardening.siemproc import start_siem
from tests.hardening.tlsutil import CertFiles, make_certificate
from tests.notify.conftest import USERNAME, Recorder, SmtpServer, check_login

SMTP_SECRET = "smtp-Pa55-must-never-show-7Q"
ES_SECRET = "es-ApiKey-must-never-show-9Z"
ES_PASSWORD = "es-Passw0rd-must-never-show-4K"
PASSWORD_ENV = "SIEM_HARDENING_SMTP_PASSWORD"
SECRET_WORDS = ("password", "passwd", "secret", "api-key", "apikey", "api_key", "token")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python cli.py ARGS`` as a real process (umask 022, as a login shell would have)."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip


def no_secret_in(*texts: str) -> None:
    for text in texts:
        for secret in (SMTP_SECRET, ES_SECRET, ES_PASSWORD):
            assert secret not in text
            assert secret[:10] not in text  # nor a prefix of it


# -- the command line --------------------------------------------------------------------


def walk(command: click.Command, ctx: click.Context, path: str) -> Iterator[tuple[str, click.Parameter]]:
    for param in command.params:
        yield path, param
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from walk(sub, click.Context(sub, parent=ctx, info_name=name), f"{path} {name}")


def test_no_command_line_option_takes_a_secret() -> None:
    found = []
    for path, param in walk(root, click.Context(root, info_name="siem"), "siem"):
        names = [*getattr(param, "opts", []), param.name or ""]
        if any(word in name.lower() for name in names for word in SECRET_WORDS):
            found.append(f"{path} {names}")
    assert found == []
    assert len(list(walk(root, click.Context(root, info_name="siem"), "siem"))) > 30  # the walk saw the commands


# -- files are private ---------------------------------------------------------------------


def test_init_ingest_and_scan_create_private_files(tmp_path: Path) -> None:
    data = tmp_path / "siem-data"
    assert run_cli(tmp_path, "--data-dir", str(data), "init").returncode == 0
    log = tmp_path / "auth.log"
    log.write_text("Nov 25 10:00:00 cam sshd[1]: Failed password for root from 203.0.113.9 port 5 ssh2\n")
    ingest = run_cli(tmp_path, "--data-dir", str(data), "ingest", str(log))
    assert ingest.returncode == 0, ingest.stderr
    scan = run_cli(tmp_path, "--data-dir", str(data), "scan", "--format", "json")
    assert scan.returncode in (0, 1), scan.stderr
    assert (tmp_path / "siem.yaml").stat().st_mode & 0o777 == 0o600
    created = [data, *data.rglob("*")]
    assert any(path.name == "siem.db" for path in created)
    loose = [f"{path} {path.stat().st_mode & 0o777:o}" for path in created if path.stat().st_mode & 0o077]
    assert loose == []


# -- SMTP ---------------------------------------------------------------------------------


def email_yaml(port: int, cert: CertFiles, *, extra: str = "") -> str:
    return (
        "email:\n  enabled: true\n  from_address: siem@city.example\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: starttls, username: {USERNAME},"
        f" password_env: {PASSWORD_ENV}, ca_file: '{cert.cert}', timeout: 5{extra}}}\n"
        "  routes: [{name: it, recipients: [it@city.example], min_severity: low}]\n"
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_rejected_smtp_login_never_shows_the_password(tmp_path: Path, cert: CertFiles) -> None:
    port = free_port()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert.cert, cert.key)
    server = SmtpServer(
        port, Recorder(), tls_context=server_context, require_starttls=True,
        authenticator=check_login(False), auth_required=True,
    )  # fmt: skip
    config = tmp_path / "siem.yaml"
    config.write_text(email_yaml(port, cert))
    env = {PASSWORD_ENV: SMTP_SECRET}
    base = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    server.start()
    try:
        results = [
            run_cli(tmp_path, *base, "email", "test", env=env),
            run_cli(tmp_path, *base, "--debug", "email", "test", env=env),
            run_cli(tmp_path, *base, "--debug", "email", "send", env=env),
            run_cli(tmp_path, *base, "email", "status", env=env),
            run_cli(tmp_path, *base, "status", env=env),
            run_cli(tmp_path, *base, "status", "--json", env=env),
        ]
    finally:
        server.stop()
    assert results[0].returncode != 0
    assert "rejected the login" in results[0].stdout + results[0].stderr
    for result in results:
        no_secret_in(result.stdout, result.stderr)
    for path in (tmp_path / "data").rglob("*"):  # the outbox and the store
        if path.is_file():
            assert SMTP_SECRET.encode() not in path.read_bytes(), path


def test_smtp_tls_is_at_least_1_2_and_verifies_by_default(cert: CertFiles, caplog: pytest.LogCaptureFixture) -> None:
    context = tls_context(SmtpConfig(host="mail.city.example"))
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert caplog.records == []
    with caplog.at_level(logging.WARNING):
        off = tls_context(SmtpConfig(host="mail.city.example", verify_tls=False))
    assert off.verify_mode == ssl.CERT_NONE
    assert "verification" in caplog.text and "turned off" in caplog.text


def test_a_password_over_plain_smtp_to_another_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="unencrypted"):
        SmtpConfig(host="mail.city.example", port=25, security="plain", username="u", password_env="X")
    SmtpConfig(host="127.0.0.1", port=25, security="plain", username="u", password_env="X")  # a loopback relay


# -- Elasticsearch ------------------------------------------------------------------------


class FakeCluster(BaseHTTPRequestHandler):
    """Answers every request as an Elasticsearch root endpoint would; records auth headers."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        FakeCluster.seen.append(self.headers.get("Authorization", ""))
        body = json.dumps({"name": "n", "cluster_name": "c", "version": {"number": "8.15.0"}, "tagline": "x"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:  # quiet
        del format, args


@pytest.fixture
def https_cluster(cert: CertFiles) -> Iterator[str]:
    """An https server on 127.0.0.1 with the self-signed certificate; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCluster)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeCluster.seen = []
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def es_config(url: str, tmp_path: Path, **extra: object) -> ElasticsearchConfig:
    key = tmp_path / "es-api-key"
    key.write_text(ES_SECRET + "\n")
    return ElasticsearchConfig(hosts=(url,), api_key_file=str(key), max_retries=0, request_timeout=5, **extra)  # type: ignore[arg-type]


def test_elasticsearch_refuses_an_unverified_certificate_by_default(https_cluster: str, tmp_path: Path) -> None:
    client = make_client(es_config(https_cluster, tmp_path))
    with pytest.raises(TlsError) as raised:
        client.info()
    assert "CERTIFICATE_VERIFY_FAILED" in repr(raised.value)
    assert FakeCluster.seen == []  # the API key never left
    no_secret_in(str(raised.value), repr(raised.value))


def test_elasticsearch_trusts_the_configured_ca(https_cluster: str, tmp_path: Path, cert: CertFiles) -> None:
    client = make_client(es_config(https_cluster, tmp_path, ca_certs=str(cert.cert)))
    assert client.info()["cluster_name"] == "c"
    assert FakeCluster.seen and FakeCluster.seen[-1] == f"ApiKey {ES_SECRET}"


def test_elasticsearch_verification_off_is_explicit_and_logged(
    https_cluster: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        client = make_client(es_config(https_cluster, tmp_path, verify_tls=False))
    assert "verification" in caplog.text and "turned off" in caplog.text
    assert client.info()["cluster_name"] == "c"


def test_credentials_in_an_elasticsearch_url_are_refused() -> None:
    with pytest.raises(ConfigError, match="no user name or password in a URL"):
        ElasticsearchConfig(hosts=(f"https://elastic:{ES_PASSWORD}@127.0.0.1:9200",))


def test_es_commands_never_show_the_api_key_or_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: every command fails
    key, password = tmp_path / "key", tmp_path / "password"
    key.write_text(ES_SECRET)
    password.write_text(ES_PASSWORD)
    outputs = []
    for auth in ({"api_key_file": str(key)}, {"username": "elastic", "password_file": str(password)}):
        settings = {"store": {"backend": "elasticsearch", "elasticsearch": {
            "hosts": [f"http://127.0.0.1:{port}"], "max_retries": 0, "request_timeout": 2, **auth}}}
        config = tmp_path / "siem.yaml"
        config.write_text(json.dumps(settings))
        base = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
        for args in (["es", "status"], ["--debug", "es", "status"], ["status"], ["search", "x"]):
            result = run_cli(tmp_path, *base, *args)
            assert result.returncode != 0 or args == ["status"], result.stderr
            outputs += [result.stdout, result.stderr]
    assert any(f"127.0.0.1:{port}" in text for text in outputs)  # the errors say where
    no_secret_in(*outputs)


def test_siem_run_warns_at_start_when_smtp_verification_is_off(tmp_path: Path, cert: CertFiles) -> None:
    config = "sources: []\n" + email_yaml(free_port(), cert, extra=", verify_tls: false")
    siem = start_siem(config, tmp_path, tmp_path / "data", env={PASSWORD_ENV: SMTP_SECRET},
                      wait_for="no sources configured")
    try:
        deadline = time.monotonic() + 10
        while "turned off" not in siem.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert siem.stop() == 0, siem.log()
    assert "TLS certificate verification for SMTP server 127.0.0.1 is turned off" in siem.log()
    no_secret_in(siem.log())
