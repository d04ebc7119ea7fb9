"""``siem init``: write a commented ``siem.yaml`` (every key with its default) and the data dir.

The file loads back with ``siem.config.load_config`` to the defaults (a test checks that, and
that every configuration key appears in it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from siem.app import App, AppOptions
from siem.config import CONFIG_FILE_NAME, DEFAULT_DATA_DIR
from siem.errors import ConfigError

TEMPLATE = """\
# siem configuration. Every key is shown with its default; delete what you do not change.
# A misspelt key is an error (with its line), never silently ignored.

# Where events, alerts, the spool and state are kept (created with mode 0700).
data_dir: {data_dir}
# Language of messages: en or vi.
language: en
# Name written to the audit log for changes made here (empty: the OS user).
officer: null
# Site label for events that no inventory entry matches.
site: city
# Asset inventory YAML (sites, zones, CIDRs, devices); null = none.
inventory: null
# MaxMind GeoIP databases for public addresses (e.g. GeoLite2-City.mmdb, GeoLite2-ASN.mmdb);
# null = no GeoIP. language picks the names written (en, vi is not in MaxMind's files).
geoip:
  city_db: null
  asn_db: null
  language: en

# Inputs. type: syslog (transport udp, tcp or tls), file (paths), pcap, capture.
sources:
  - type: syslog
    # Name shown in 'siem status' (empty: built from type, transport, host and port).
    name: ""
    transport: udp
    host: 127.0.0.1
    port: 5514
    # file: paths or globs to tail, e.g. [/var/log/auth.log, /var/log/remote/*.log]
    # pcap: capture files or globs to read once each, e.g. [/var/captures/*.pcap]
    paths: []
    # capture: network interface to capture on live (needs root or CAP_NET_RAW), e.g. eth0
    interface: ""
    # capture: BPF filter in tcpdump syntax, e.g. "not port 22"
    bpf: ""
    # Parser name, or auto to detect each record's format.
    format: auto
    # IANA time zone of devices that log local time without an offset (e.g. Asia/Ho_Chi_Minh).
    timezone: UTC
    # Longer messages are cut to this size and flagged (event.truncated).
    max_message_bytes: 65536
    # tcp, tls: open connections at most, in all and from one address (more are refused, counted).
    max_connections: 1000
    max_connections_per_ip: 100
    # tcp, tls: close a connection silent for this many seconds (0 = never).
    idle_timeout_seconds: 900.0
    # file: read a gzip-compressed rotated file up to this many bytes, and up to this expansion
    # ratio past its first MiB (a gzip bomb is cut there and counted).
    max_gzip_bytes: 1073741824
    max_gzip_ratio: 200
    # For udp: the socket receive buffer (bytes) where a burst waits (UDP cannot slow a sender);
    # without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max (the size granted is logged).
    receive_buffer_bytes: 8388608
    # TLS for transport: tls (RFC 5425).
    tls:
      cert_file: null
      key_file: null
      # CA bundle that signs client certificates (mutual TLS).
      ca_file: null
      require_client_cert: false
      # Seconds a client has to finish the TLS handshake (TLS 1.2 at least).
      handshake_timeout_seconds: 10.0
    # Fixed labels for every event of this source.
    site: null
    zone: null
  - type: syslog
    transport: tcp
    host: 127.0.0.1
    port: 5514

store:
  # sqlite (embedded) or elasticsearch.
  backend: sqlite
  # SQLite file name inside data_dir.
  sqlite_file: siem.db
  retention:
    # Delete events older than this many days (0 = keep).
    max_age_days: 90
    # Delete the oldest events beyond this size in MB (0 = no limit).
    max_size_mb: 0
    # How often the retention job runs while 'siem run' is up.
    interval_seconds: 3600
  # Used when backend is elasticsearch (see docs/elasticsearch.md; 'siem es setup' once).
  elasticsearch:
    hosts: [http://127.0.0.1:9200]
    # Secrets are read from files: an API key, or a user name and a password file.
    api_key_file: null
    username: null
    password_file: null
    # CA certificate (PEM) of the cluster, for https.
    ca_certs: null
    # Verify the cluster's certificate (https, TLS 1.2 or newer); turning this off is logged.
    verify_tls: true
    index_prefix: siem
    # REST compatibility asked for: "8" (8.x and 9.x clusters), "9", or "none" (OpenSearch).
    compatibility: "8"
    # wait_for: searchable when written (up to 1 s per request); "false": fastest ingest.
    refresh: wait_for
    bulk_docs: 500
    max_in_flight: 2
    # Retries on 429/5xx and lost connections, backoff doubling from retry_backoff seconds.
    max_retries: 5
    retry_backoff: 0.5
    request_timeout: 30.0
    # Lifecycle policy: roll over at this size (GB) or age (days).
    rollover_max_size_gb: 50
    rollover_max_age_days: 1
    # Seal each batch and audit entry in a hash chain (index <prefix>-seals) for 'siem verify'.
    seals: true
    # Head of the seal chain; null: <index_prefix>.es-seal-head in the data directory.
    seal_head_file: null

pipeline:
  # Records held in memory before TCP and file sources are slowed and UDP drops (counted).
  queue_size: 20000
  # Events per store transaction.
  batch_size: 1000
  # Longest wait (seconds) before a partial batch is committed.
  flush_interval: 0.5
  # Journal network records on disk before processing (replayed after a crash).
  spool: true
  # fsync the spool and the store on each commit (safe against power loss, slower).
  fsync: false
  # Disk space (MB) the spool leaves free for the store; below it sources wait (disk full).
  spool_min_free_mb: 64
  # Worker processes for parsing, enrichment and rule matching (0: one thread; up to the CPU
  # cores left beside the store writer, e.g. 6 on an 8-core server).
  workers: 0

detection:
  # Folders or files of Sigma rules.
  rules: [rules]
  # Rule statuses to load (empty = all): stable, test, experimental, ...
  statuses: []
  # Lowest rule level to load: informational, low, medium, high, critical.
  min_level: informational
  # strict: a rule sees only events of its logsource; any: every rule sees every event.
  logsource: strict
  # Values for Sigma 'expand' placeholders, e.g. admin_users: [root, admin]
  placeholders: {{}}

alerts:
  # Alerts of one rule with the same group-by values fold into one (count, first and last
  # seen) while each comes within this many minutes (event time) of the group's last one.
  window_minutes: 15
  # Group-by fields per rule id or title glob, e.g. "SSH brute force*": [source.ip, destination.ip]
  group_by: {{}}
  # Group-by fields of other rules (fields an alert lacks are skipped).
  default_group_by: [source.ip, destination.ip, host.name]

incidents:
  # An alert joins an open incident of the same rule and entity whose last alert is at most
  # this many minutes older; otherwise it opens a new incident.
  window_minutes: 60
  # Lower alerts are stored but open no incident: informational, low, medium, high, critical.
  min_level: medium
  # Minutes to acknowledge and to resolve, counted from when an incident was (re)opened.
  sla:
    critical:
      acknowledge_minutes: 15
      resolve_minutes: 240
    high:
      acknowledge_minutes: 60
      resolve_minutes: 1440
    medium:
      acknowledge_minutes: 480
      resolve_minutes: 4320
    low:
      acknowledge_minutes: 1440
      resolve_minutes: 10080
    informational:
      acknowledge_minutes: 1440
      resolve_minutes: 10080

# E-mail to the IT department and ward officers. Off until enabled; the SMTP password
# comes from an environment variable or a file, never from this file or the command line.
email:
  enabled: false
  from_address: siem@localhost
  smtp:
    host: localhost
    # 587 with starttls, 465 with tls (implicit TLS), 25 with plain (loopback relays only).
    port: 587
    security: starttls
    username: null
    password_env: null        # e.g. SIEM_SMTP_PASSWORD
    password_file: null       # e.g. /etc/siem/smtp-password (mode 0600)
    timeout: 30.0
    # Verify the server certificate; turning this off is logged as a warning.
    verify_tls: true
    ca_file: null
  # Who gets what, e.g.
  #   - {{name: it, recipients: [it@city.example], min_severity: medium}}
  #   - {{name: ward-3, recipients: [w3@city.example], sites: [ward-3], min_severity: high}}
  # high and critical go out at once; the rest in a digest every digest_minutes.
  routes: []
  # More than max_messages immediate mails per route in window_seconds become one summary.
  rate_limit:
    max_messages: 10
    window_seconds: 300
  # Retry delay while the mail server is down (doubles up to max_seconds).
  retry:
    initial_seconds: 10.0
    max_seconds: 600.0
  # Language of the mails (en or vi); empty = the main language.
  language: ""
  # Time zone (IANA name) for times shown in mails.
  timezone: UTC
  # Sent mails kept in outbox/sent for inspection.
  keep_sent: 200

# server: store, detect and alert. forwarder: a ward collector that parses and enriches its
# sources locally and sends the events to the centre over mutual TLS, buffering them on disk
# while the link is down ('siem run --role forwarder'; see docs/forwarder.md). The centre
# listens with a source of type forwarder (tls.cert_file, tls.key_file, tls.ca_file).
role: server
forwarder:
  # The centre's forwarder listener.
  host: 127.0.0.1
  port: 6514
  # Name the centre's certificate must carry (default: host); checked unless check_hostname is off.
  server_name: null
  check_hostname: true
  # This ward's client certificate and key, and the CA that signed the centre's certificate (PEM).
  cert_file: null
  key_file: null
  ca_file: null
  # Disk for events not yet acknowledged; when full, TCP and file sources wait and UDP drops (counted).
  buffer_max_mb: 1024.0
  # Fill level that raises the buffer alarm (logged, and shown by 'siem status').
  alarm_percent: 80
  # Events per batch, and batches sent before waiting for the centre's acknowledgement.
  batch_size: 1000
  window: 4
  # Longest wait between reconnection attempts (doubling from 0.5 s), and the network timeout.
  reconnect_max_seconds: 30.0
  timeout: 30.0

# Jobs 'siem run' starts on a cron schedule, each as a 'siem' subprocess with this file and
# data directory ('siem schedule list' shows them; 'siem schedule systemd' writes timers), e.g.
#   - name: weekly-scan
#     cron: "0 7 * * 1"              # minute hour day-of-month month day-of-week
#     command: scan --profile vn-tcvn11930 --format markdown --output weekly-scan.md
#     missed: run_once               # after downtime: skip (default) or run_once
#     timezone: Asia/Ho_Chi_Minh     # of the cron fields (default UTC)
#     timeout_minutes: 60            # a run still going then is stopped
schedule: []
"""


def render(data_dir: str = DEFAULT_DATA_DIR) -> str:
    """The commented configuration text with ``data_dir`` filled in."""
    return TEMPLATE.format(data_dir=json.dumps(data_dir))


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@click.pass_obj
def init_command(options: AppOptions, force: bool) -> None:
    """Write a commented siem.yaml and create the data directory."""
    target = Path(options.config_file or CONFIG_FILE_NAME)
    if target.exists() and not force:
        raise ConfigError("the configuration file exists; use --force to overwrite it", path=target)
    data_dir = options.data_dir or DEFAULT_DATA_DIR
    try:
        # Mode 0600: the file may come to name secrets' files and hosts; others need not read it.
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write(render(data_dir))
        os.chmod(target, 0o600)  # an existing file (--force) keeps its old mode otherwise
    except OSError as exc:
        raise ConfigError(f"cannot write the configuration: {exc.strerror}", path=target) from exc
    app = App.from_options(AppOptions(config_file=str(target), data_dir=options.data_dir))
    try:
        data_path = app.data_path
    finally:
        app.close()
    click.echo(f"wrote {target}; data directory {data_path}")
