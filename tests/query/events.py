"""Thirty realistic flat events (firewall denies, SSH logins, DNS queries, odd ones) shared
by the case table; ``@timestamp`` is 08:00 UTC plus one minute per event, in this order."""

from __future__ import annotations

from typing import Any

from siem.event import format_timestamp, parse_timestamp

BASE = parse_timestamp("2026-11-25T08:00:00Z")


def _fw(
    ident: str, action: str, src: str, sport: int, dst: str, dport: int, **extra: Any
) -> dict[str, Any]:
    proto = extra.pop("transport", "tcp")
    return {
        "event.id": ident,
        "event.dataset": extra.pop("dataset", "iptables"),
        "event.action": action,
        "event.category": ["network"],
        "source.ip": src,
        "source.port": sport,
        "destination.ip": dst,
        "destination.port": dport,
        "network.transport": proto,
        "observer.ip": "10.0.0.1",
        "labels.site": extra.pop("site", "ward-3"),
        "event.original": (
            f"Nov 25 fw1 kernel: {action.upper()} IN=eth0 SRC={src} DST={dst}"
            f" PROTO={proto.upper()} SPT={sport} DPT={dport}"
        ),
        **extra,
    }


def _ssh(ident: str, original: str, src: str, pid: int, **extra: Any) -> dict[str, Any]:
    return {
        "event.id": ident,
        "event.dataset": "linux.auth",
        "event.action": "ssh_login",
        "event.category": ["authentication"],
        "source.ip": src,
        "host.name": extra.pop("host", "gw-01"),
        "process.name": "sshd",
        "process.pid": pid,
        "event.original": original,
        **extra,
    }


def _dns(ident: str, name: str, src: str, dst: str = "10.0.0.53") -> dict[str, Any]:
    return {
        "event.id": ident,
        "event.dataset": "dnsmasq",
        "event.action": "query",
        "dns.question.name": name,
        "source.ip": src,
        "destination.ip": dst,
        "destination.port": 53,
        "network.transport": "udp",
        "related.ip": [src, dst],
        "event.original": f"dnsmasq[311]: query[A] {name} from {src}",
    }


_EVENTS: list[dict[str, Any]] = [
    _fw("fw01", "deny", "10.2.3.4", 51515, "192.168.1.10", 22),
    _fw("fw02", "deny", "10.2.200.7", 40000, "192.168.1.20", 443),
    _fw("fw03", "deny", "10.2.3.4", 53000, "8.8.8.8", 53, transport="udp"),
    _fw("fw04", "Deny", "10.3.0.5", 41000, "192.168.1.10", 80, dataset="cisco.asa", site="hq"),
    _fw("fw05", "deny", "10.2.9.9", 41001, "192.168.1.10", 3389),
    _fw("fw06", "allow", "172.16.5.5", 41002, "10.2.3.4", 8080, site="hq"),
    _fw("fw07", "allow", "10.2.3.4", 41003, "192.168.1.30", 443),
    _fw("fw08", "deny", "2001:db8::10", 41004, "2001:db8:1::1", 443, site="hq"),
    _fw("fw09", "deny", "2001:db8:ffff::1", 41005, "2001:db9::1", 22, site="hq"),
    _fw("fw10", "deny", "10.20.1.1", 41006, "192.168.1.10", 25, site="hq"),
    _fw("fw11", "deny", "10.2.15.200", 41007, "192.168.1.10", 8443),
    _fw("fw12", "deny", "10.2.16.1", 41008, "192.168.1.10", 8443),
    _ssh("ssh01", "sshd[1201]: Failed password for root from 203.0.113.5 port 40022 ssh2",
         "203.0.113.5", 1201, **{"user.name": "root", "event.outcome": "failure"}),
    _ssh("ssh02", "sshd[1202]: Failed password for invalid user admin from 203.0.113.5 port"
         " 40023 ssh2", "203.0.113.5", 1202, **{"user.name": "admin", "event.outcome": "failure"}),
    _ssh("ssh03", "sshd[1203]: Failed password for Nguyễn from 198.51.100.7 port 5000 ssh2",
         "198.51.100.7", 1203, host="cam-nvr-02",
         **{"user.name": "Nguyễn", "event.outcome": "failure"}),
    _ssh("ssh04", "sshd[1204]: Accepted publickey for deploy from 10.2.3.4 port 50000 ssh2",
         "10.2.3.4", 1204, **{"user.name": "deploy", "event.outcome": "success"}),
    _ssh("ssh05", "sshd[1305]: pam_unix(sshd:auth): authentication failure; logname= uid=0"
         " euid=0 tty=ssh ruser= rhost=203.0.113.9 user=ROOT", "203.0.113.9", 1305,
         **{"user.name": "ROOT", "event.outcome": "failure"}),
    _ssh("ssh06", "sshd[1306]: Failed password for NGUYỄN from 198.51.100.8 port 5001 ssh2",
         "198.51.100.8", 1306, host="cam-nvr-02",
         **{"user.name": "NGUYỄN", "event.outcome": "failure"}),
    _ssh("ssh07", "sshd[1307]: Connection closed by 203.0.113.5 port 40030 [preauth]",
         "203.0.113.5", 1307, **{"event.outcome": "unknown"}),
    _dns("dns01", "example.com", "10.2.3.4"),
    _dns("dns02", "malware.bad-domain.ru", "10.2.50.1"),
    _dns("dns03", "WWW.Example.COM", "10.3.0.5"),
    _dns("dns04", "updates.vendor.example", "2001:db8::10", "2001:db8::53"),
    _dns("dns05", "a*b.example", "10.2.3.4"),
    _dns("dns06", "axxb.example", "10.2.3.4"),
    {
        "event.id": "misc01",
        "event.dataset": "app",
        "message": "disk almost full on nvr-01",
        "host.name": "nvr-01",
        "labels.zone": "camera",
    },
    {
        "event.id": "misc02",
        "event.dataset": "windows",
        "event.category": ["authentication", "network"],
        "event.code": "4625",
        "event.severity": 7,
        "user.name": "Administrator",
        "event.original": "An account failed to log on. Account Name: Administrator",
    },
    {
        "event.id": "misc03",
        "event.dataset": "unknown",
        "event.original": "garbage <<>> line",
        "error.message": "no parser matched",
    },
    {
        "event.id": "misc04",
        "event.dataset": "app",
        "host.name": "Cam-Lobby-01",
        "labels.zone": "camera",
        "event.severity": 3,
        "event.original": "motion detected at lobby",
        "tls.established": True,
    },
    {
        "event.id": "misc05",
        "event.dataset": "iptables",
        "event.action": "deny all",
        "event.original": "policy deny all applied",
        "tls.established": False,
    },
]

EVENTS: list[dict[str, Any]] = [
    {"@timestamp": format_timestamp(BASE + 60 * index), "event.kind": "event", **event}
    for index, event in enumerate(_EVENTS)
]
ALL_IDS = frozenset(str(event["event.id"]) for event in EVENTS)
