"""Each parser on lines written after its vendor's documentation, and on garbage."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.base import RawRecord
from collectors.parsers.catalog import PARSERS, load_parser
from siem.errors import ParseError
from siem.event import parse_timestamp

RECEIVED = parse_timestamp("2026-11-25T10:00:00Z")

# (parser, line, expected fields). Lines follow the message formats in each vendor's guide
# (cited at the top of each parser module); addresses are documentation ranges.
SAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "cef",
        "Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|"
        "10|src=10.0.0.1 dst=2.1.2.2 spt=1232 act=blocked suser=Bob msg=Detected a threat. No action "
        "needed rt=1537345570000",
        {
            "source.ip": "10.0.0.1",
            "destination.ip": "2.1.2.2",
            "source.port": 1232,
            "event.action": "blocked",
            "user.name": "Bob",
            "observer.vendor": "Security",
            "message": "Detected a threat. No action needed",
            "event.severity": 10,
            "@timestamp": "2018-09-19T08:26:10.000Z",
            "event.dataset": "cef",
        },
    ),
    (
        "cef",
        r"CEF:0|Vendor\|X|Prod|1|sig|name with \| pipe|Very-High|request=http://x/a\=b cs1=v",
        {
            "observer.vendor": "Vendor|X",
            "message": "name with | pipe",
            "event.severity": 10,
            "url.original": "http://x/a=b",
            "cef.extensions.cs1": "v",
        },
    ),
    (
        "leef",
        "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\t"
        "sev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
        {
            "source.ip": "192.0.2.0",
            "destination.ip": "172.50.123.1",
            "source.port": 81,
            "destination.port": 21,
            "user.name": "joe.black",
            "event.severity": 5,
            "event.code": "15345",
            "observer.vendor": "Microsoft",
        },
    ),
    (
        "leef",
        "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=192.0.2.0^dst=172.50.123.1^sev=5^"
        "cat=anomaly^proto=6",
        {"source.ip": "192.0.2.0", "destination.ip": "172.50.123.1", "network.transport": "tcp"},
    ),
    (
        "leef",
        "LEEF:2.0|Vendor|Prod|1.0|7|x7C|src=198.51.100.1|dst=203.0.113.9|devTime=1700000000000",
        {
            "source.ip": "198.51.100.1",
            "destination.ip": "203.0.113.9",
            "@timestamp": "2023-11-14T22:13:20.000Z",
        },
    ),
    (
        "linux.auth",
        "Nov 25 09:00:01 web1 sshd[4242]: Accepted publickey for deploy from "
        "198.51.100.7 port 50522 ssh2: ED25519 SHA256:abc",
        {
            "event.action": "ssh_login",
            "event.outcome": "success",
            "user.name": "deploy",
            "source.ip": "198.51.100.7",
            "source.port": 50522,
            "event.category": ["authentication"],
            "event.dataset": "linux.auth",
            "host.name": "web1",
        },
    ),
    (
        "linux.auth",
        "Nov 25 09:00:02 web1 sshd[4243]: Failed password for invalid user oracle from "
        "2001:db8::5 port 40022 ssh2",
        {"event.outcome": "failure", "user.name": "oracle", "source.ip": "2001:db8::5"},
    ),
    (
        "linux.auth",
        "Nov 25 09:00:03 web1 sshd[4244]: Invalid user admin from 203.0.113.50 port 4000",
        {"event.action": "invalid_user", "event.outcome": "failure", "user.name": "admin"},
    ),
    (
        "linux.auth",
        "Nov 25 09:00:04 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
        "COMMAND=/usr/bin/systemctl restart nginx",
        {
            "event.action": "sudo",
            "event.outcome": "success",
            "user.name": "alice",
            "user.effective.name": "root",
            "process.command_line": "/usr/bin/systemctl restart nginx",
        },
    ),
    (
        "linux.auth",
        "Nov 25 09:00:05 web1 sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; "
        "PWD=/home/bob ; USER=root ; COMMAND=/bin/bash",
        {"event.action": "sudo", "event.outcome": "failure", "user.name": "bob"},
    ),
    (
        "linux.auth",
        "Nov 25 09:00:06 web1 su[77]: FAILED su for root by mallory",
        {
            "event.action": "su",
            "event.outcome": "failure",
            "user.name": "mallory",
            "user.effective.name": "root",
        },
    ),
    (
        "linux.auth",
        "Nov 25 09:00:07 web1 sshd[4245]: pam_unix(sshd:session): session opened for "
        "user carol(uid=1001) by (uid=0)",
        {
            "event.action": "logged-in",
            "user.name": "carol",
            "event.category": ["authentication", "session"],
        },
    ),
    (
        "linux.auth",
        "Nov 25 09:00:08 web1 systemd-logind[600]: New session 12 of user carol.",
        {"event.action": "logged-in", "user.name": "carol"},
    ),
    (
        "linux.auth",
        "Nov 25 09:00:09 web1 sshd[4246]: pam_unix(sshd:auth): authentication failure; "
        "logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.44  user=root",
        {"event.action": "authentication_failure", "user.name": "root", "source.ip": "192.0.2.44"},
    ),
    (
        "iptables",
        "Nov 25 09:10:00 gw kernel: [ 1234.5678] [UFW BLOCK] IN=eth0 OUT= MAC=00:11:22:33:"
        "44:55:66:77:88:99:aa:bb:08:00 SRC=203.0.113.5 DST=192.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=50 "
        "ID=1 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
        {
            "event.dataset": "ufw",
            "event.action": "block",
            "event.type": ["connection", "denied"],
            "source.ip": "203.0.113.5",
            "destination.port": 22,
            "network.transport": "tcp",
            "observer.product": "ufw",
            "source.mac": "66-77-88-99-AA-BB",
        },
    ),
    (
        "pfsense",
        "<134>Nov 25 09:11:00 fw filterlog[1]: 5,,,1000000103,em0,match,block,in,4,0x0,,64,"
        "0,0,DF,17,udp,60,198.51.100.1,192.0.2.1,5000,53,40",
        {
            "event.action": "block",
            "event.type": ["connection", "denied"],
            "source.port": 5000,
            "destination.port": 53,
            "network.direction": "inbound",
            "observer.vendor": "Netgate",
        },
    ),
    (
        "opnsense",
        "<134>Nov 25 09:11:00 fw filterlog[1]: 5,,,abc,em0,match,pass,out,6,0x00,0x00000,"
        "64,tcp,6,40,2001:db8::1,2001:db8::2,443,51000,0,S,1,,64240,,mss",
        {
            "event.dataset": "opnsense",
            "source.ip": "2001:db8::1",
            "source.port": 443,
            "network.direction": "outbound",
            "observer.product": "OPNsense",
        },
    ),
    (
        "fortinet.fortigate",
        '<189>date=2026-11-25 time=09:12:00 devname="FGT60F" devid="FGT60F0000" '
        'tz="+0700" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.1.1.5 '
        'srcport=50000 dstip=198.51.100.80 dstport=443 proto=6 action="deny" policyid=7 user="an.nguyen"',
        {
            "@timestamp": "2026-11-25T02:12:00.000Z",
            "event.action": "deny",
            "event.type": ["connection", "denied"],
            "user.name": "an.nguyen",
            "observer.name": "FGT60F",
            "rule.id": "7",
            "network.transport": "tcp",
        },
    ),
    (
        "panw.panos",
        "<14>Nov 25 09:13:00 PA-220 1,2026/11/25 09:13:00,012801000001,TRAFFIC,end,2561,"
        "2026/11/25 09:13:00,10.0.0.5,198.51.100.9,203.0.113.1,198.51.100.9,allow-web,corp\\binh,,ssl,"
        "vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd,2026/11/25 09:13:00,1234,1,51000,443,40000,"
        "443,0x400000,tcp,allow,5000,2000,3000,20,2026/11/25 09:12:50,10,computer-and-internet-info,0,"
        "1,0x0,10.0.0.0-10.255.255.255,US,0,10,10,tcp-fin",
        {
            "event.action": "allow",
            "source.ip": "10.0.0.5",
            "source.nat.ip": "203.0.113.1",
            "source.nat.port": 40000,
            "user.name": "binh",
            "user.domain": "corp",
            "network.bytes": 5000,
            "rule.name": "allow-web",
            "observer.name": "PA-220",
            "panw.panos.end_reason": "tcp-fin",
        },
    ),
    (
        "sophos.xg",
        'device="SFW" date=2026-11-25 time=09:14:00 timezone="ICT" device_name="XG135" '
        'device_id=C01 log_id=010101600001 log_type="Firewall" log_component="Firewall Rule" '
        'log_subtype="Denied" status="Deny" priority=Information fw_rule_id=5 user_name="chi" '
        'src_ip=10.2.2.2 src_port=40000 dst_ip=198.51.100.2 dst_port=3389 protocol="TCP"',
        {
            "event.action": "denied",
            "event.type": ["connection", "denied"],
            "user.name": "chi",
            "destination.port": 3389,
            "rule.id": "5",
            "observer.name": "XG135",
        },
    ),
    (
        "juniper.srx",
        "<14>Nov 25 09:15:00 srx1 RT_FLOW: RT_FLOW_SESSION_CREATE: session created "
        "10.0.0.1/50000->198.51.100.5/443 0x0 junos-https 203.0.113.1/40000->198.51.100.5/443 0x0 "
        "source rule1 N/A N/A 6 allow-out trust untrust 1234 N/A(N/A) ge-0/0/1.0 UNKNOWN UNKNOWN",
        {
            "event.action": "flow_started",
            "source.ip": "10.0.0.1",
            "destination.port": 443,
            "source.nat.ip": "203.0.113.1",
            "source.nat.port": 40000,
            "network.transport": "tcp",
            "rule.name": "allow-out",
            "observer.ingress.zone": "trust",
        },
    ),
    (
        "juniper.srx",
        "<14>Nov 25 09:15:01 srx1 RT_FLOW: RT_FLOW_SESSION_DENY: session denied "
        "198.51.100.66/5555->203.0.113.1/23 0x0 junos-telnet 6(0) deny-all untrust trust UNKNOWN",
        {
            "event.action": "flow_deny",
            "event.type": ["connection", "denied"],
            "source.ip": "198.51.100.66",
            "destination.port": 23,
            "rule.name": "deny-all",
        },
    ),
    (
        "checkpoint",
        '<134>1 2026-11-25T09:16:00Z gw CheckPoint 1 - [action:"Drop"; origin:"192.0.2.1"; '
        'src:"198.51.100.3"; dst:"192.0.2.80"; proto:"6"; s_port:"4444"; service:"22"; '
        'product:"VPN-1 & FireWall-1"; src_user_name:"dung"]',
        {
            "event.action": "drop",
            "event.type": ["connection", "denied"],
            "source.port": 4444,
            "destination.port": 22,
            "network.transport": "tcp",
            "user.name": "dung",
            "observer.name": "192.0.2.1",
        },
    ),
    (
        "mikrotik.routeros",
        "<134>Nov 25 09:17:00 MikroTik firewall,info input: in:ether1 out:(none), "
        "src-mac 00:21:29:6d:82:07, proto UDP, 10.1.101.1:520->10.1.101.255:520, len 452",
        {
            "source.ip": "10.1.101.1",
            "destination.port": 520,
            "network.transport": "udp",
            "mikrotik.chain": "input",
            "observer.ingress.interface.name": "ether1",
        },
    ),
    (
        "mikrotik.routeros",
        "<134>Nov 25 09:17:01 MikroTik system,info,account user admin logged in "
        "from 10.1.101.212 via winbox",
        {"event.action": "logged-in", "user.name": "admin", "source.ip": "10.1.101.212"},
    ),
    (
        "ubiquiti.unifi",
        "Nov 25 09:18:00 USG kernel: [WAN_LOCAL-default-D]IN=eth0 OUT= MAC=00:11:22:"
        "33:44:55:66:77:88:99:aa:bb:08:00 SRC=203.0.113.9 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 "
        "TTL=240 ID=54321 PROTO=TCP SPT=40000 DPT=8443 WINDOW=1024 RES=0x00 SYN URGP=0",
        {
            "event.dataset": "ubiquiti.unifi",
            "event.action": "drop",
            "rule.name": "WAN_LOCAL",
            "observer.vendor": "Ubiquiti",
            "destination.port": 8443,
        },
    ),
    (
        "suricata.eve",
        '{"timestamp":"2026-11-25T09:19:00.000000+0700","event_type":"alert",'
        '"src_ip":"198.51.100.4","src_port":4444,"dest_ip":"192.0.2.8","dest_port":80,"proto":"TCP",'
        '"alert":{"action":"blocked","gid":1,"signature_id":2100498,"rev":7,'
        '"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic",'
        '"severity":2}}',
        {
            "@timestamp": "2026-11-25T02:19:00.000Z",
            "event.kind": "alert",
            "rule.id": 2100498,
            "event.action": "blocked",
            "event.type": ["denied"],
            "event.severity": 2,
            "network.transport": "tcp",
            "event.dataset": "suricata.eve",
        },
    ),
    (
        "zeek",
        '{"_path":"ssh","ts":1764061200.5,"uid":"C1","id.orig_h":"198.51.100.1",'
        '"id.orig_p":50000,"id.resp_h":"192.0.2.22","id.resp_p":22,"auth_success":false}',
        {
            "event.dataset": "zeek.ssh",
            "event.outcome": "failure",
            "source.port": 50000,
            "@timestamp": "2025-11-25T09:00:00.500Z",
        },
    ),
    (
        "json",
        '{"time":"2026-11-25T09:20:00+07:00","user":{"name":"e"},"level":"warn"}',
        {"event.dataset": "json", "json.user.name": "e", "@timestamp": "2026-11-25T02:20:00.000Z"},
    ),
    (
        "json",
        '{"@timestamp":"2026-11-25T09:20:00Z","source":{"ip":"192.0.2.5"},"event":{"id":"x"}}',
        {"source.ip": "192.0.2.5", "@timestamp": "2026-11-25T09:20:00.000Z"},
    ),
]

ASA_LINES: list[tuple[str, dict[str, Any]]] = [
    (
        "%ASA-6-302013: Built inbound TCP connection 4321 for outside:198.51.100.7/51532 "
        "(198.51.100.7/51532) to inside:10.0.0.5/443 (203.0.113.5/443)",
        {
            "event.action": "built",
            "source.ip": "198.51.100.7",
            "destination.ip": "10.0.0.5",
            "destination.nat.ip": "203.0.113.5",
            "network.direction": "inbound",
        },
    ),
    (
        "%ASA-6-302013: Built outbound TCP connection 4322 for outside:198.51.100.7/443 "
        "(198.51.100.7/443) to inside:10.0.0.5/51000 (203.0.113.5/51000)",
        {
            "source.ip": "10.0.0.5",
            "source.port": 51000,
            "source.nat.ip": "203.0.113.5",
            "destination.ip": "198.51.100.7",
            "destination.port": 443,
        },
    ),
    (
        "%ASA-6-302014: Teardown TCP connection 4321 for outside:198.51.100.7/51532 to "
        "inside:10.0.0.5/443 duration 0:00:08 bytes 5120 TCP FINs",
        {"event.action": "teardown", "source.port": 51532, "cisco.connection_id": "4321"},
    ),
    (
        "%ASA-6-302015: Built outbound UDP connection 88 for outside:8.8.8.8/53 (8.8.8.8/53) to "
        "inside:10.0.0.9/50000 (203.0.113.5/50000)",
        {"network.transport": "udp", "source.ip": "10.0.0.9", "destination.port": 53},
    ),
    (
        "%ASA-2-106001: Inbound TCP connection denied from 198.51.100.9/4444 to 203.0.113.5/23 flags "
        "SYN on interface outside",
        {
            "event.action": "deny",
            "source.port": 4444,
            "destination.port": 23,
            "log.level": "critical",
        },
    ),
    (
        "%ASA-2-106006: Deny inbound UDP from 198.51.100.9/5000 to 203.0.113.5/161 on interface outside",
        {"event.action": "deny", "network.transport": "udp", "destination.port": 161},
    ),
    (
        "%ASA-6-106015: Deny TCP (no connection) from 10.0.0.5/443 to 198.51.100.7/51532 flags RST "
        "on interface inside",
        {"event.action": "deny", "source.ip": "10.0.0.5"},
    ),
    (
        "%ASA-4-106023: Deny tcp src outside:198.51.100.9/4444 dst inside:10.0.0.5/3389 by "
        'access-group "outside_in" [0x0, 0x0]',
        {
            "event.action": "deny",
            "rule.name": "outside_in",
            "destination.port": 3389,
            "event.type": ["connection", "denied"],
        },
    ),
    (
        "%ASA-6-106100: access-list outside_in denied tcp outside/198.51.100.9(4444) -> "
        "inside/10.0.0.5(22) hit-cnt 1 first hit [0x1, 0x0]",
        {"event.action": "deny", "rule.name": "outside_in", "destination.port": 22},
    ),
    (
        "%ASA-6-106100: access-list inside_out permitted udp inside/10.0.0.5(5353) -> "
        "outside/198.51.100.1(53) hit-cnt 1 first hit [0x1, 0x0]",
        {"event.action": "permit", "event.type": ["connection", "allowed"]},
    ),
    (
        "%ASA-7-710003: TCP access denied by ACL from 198.51.100.9/4444 to outside:203.0.113.5/22",
        {"event.action": "deny", "destination.ip": "203.0.113.5", "destination.port": 22},
    ),
    (
        "%ASA-4-733100: [ Scanning] drop rate-1 exceeded. Current burst rate is 10 per second, max "
        "configured rate is 10; Current average rate is 5 per second, max configured rate is 5; "
        "Cumulative total count is 3000",
        {"event.action": "drop", "cisco.threat_detection.object": "Scanning"},
    ),
    (
        "%ASA-6-113004: AAA user authentication Successful : server =  10.0.0.20 : user = alice",
        {"event.outcome": "success", "user.name": "alice", "event.category": ["authentication"]},
    ),
    (
        "%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 10.0.0.20 "
        ": user = bob : user IP = 198.51.100.20",
        {"event.outcome": "failure", "user.name": "bob", "source.ip": "198.51.100.20"},
    ),
    (
        '%ASA-4-605004: Login denied from 10.0.0.30/55000 to inside:10.0.0.1/ssh for user "admin"',
        {"event.outcome": "failure", "user.name": "admin", "source.port": 55000},
    ),
    (
        '%ASA-6-605005: Login permitted from 10.0.0.30/55001 to inside:10.0.0.1/https for user "admin"',
        {"event.outcome": "success", "user.name": "admin", "cisco.service": "https"},
    ),
    (
        "%ASA-5-611101: User authentication succeeded: IP address: 10.0.0.30, Uname: admin",
        {"event.outcome": "success", "user.name": "admin", "source.ip": "10.0.0.30"},
    ),
    (
        "%ASA-5-611102: User authentication failed: IP address: 10.0.0.30, Uname: admin",
        {"event.outcome": "failure", "user.name": "admin"},
    ),
    (
        "%FTD-6-302016: Teardown UDP connection 9 for outside:8.8.8.8/53 to inside:10.0.0.9/50000 "
        "duration 0:00:00 bytes 120",
        {"event.dataset": "cisco.ftd", "observer.product": "ftd", "event.action": "teardown"},
    ),
]

GARBAGE = [
    "hello world",
    "<13>Nov 25 09:00:00 host app: just some text without any of the fields",
    "{not json",
]


def _record(line: str, number: int = 1, timezone: str = "UTC") -> RawRecord:
    return RawRecord(line, "file:///samples.log", RECEIVED, str(number), timezone=timezone)


@pytest.mark.parametrize(("parser", "line", "expected"), SAMPLES)
def test_documented_sample(parser: str, line: str, expected: dict[str, Any]) -> None:
    (event,) = load_parser(parser).parse(_record(line))
    for field, value in expected.items():
        assert event.get(field) == value, f"{field}: {event.get(field)!r} != {value!r}"
    assert event["event.original"] == line
    assert event["event.id"] == _record(line).record_id()


@pytest.mark.parametrize(("message", "expected"), ASA_LINES)
def test_cisco_asa_message(message: str, expected: dict[str, Any]) -> None:
    line = f"<166>Nov 25 2026 09:30:00 fw1 : {message}"
    (event,) = load_parser("cisco.asa").parse(_record(line))
    assert event["event.code"] == message.split(":")[0].rsplit("-", 1)[1]
    assert event["@timestamp"] == "2026-11-25T09:30:00.000Z"
    assert event["observer.name"] == "fw1"
    for field, value in expected.items():
        assert event.get(field) == value, f"{field}: {event.get(field)!r} != {value!r}"


def test_every_catalog_parser_has_a_sample() -> None:
    sampled = {parser for parser, _, _ in SAMPLES} | {"cisco.asa"}
    aliases = {"ufw", "filterlog", "cisco.ftd"}
    assert set(PARSERS) - aliases <= sampled


@pytest.mark.parametrize("parser", sorted(set(PARSERS) - {"zeek"}))
@pytest.mark.parametrize("line", GARBAGE)
def test_garbage_raises_parse_error(parser: str, line: str) -> None:
    with pytest.raises(ParseError) as caught:
        load_parser(parser).parse(_record(line))
    assert caught.value.message


def test_zeek_garbage_raises_parse_error() -> None:
    parser = load_parser("zeek")
    with pytest.raises(ParseError, match="before any '#fields' header"):
        parser.parse(_record("1.2\tC1\tnot a header"))
    with pytest.raises(ParseError, match="not valid JSON"):
        parser.parse(_record("{not json"))


def test_local_time_uses_the_record_time_zone() -> None:
    line = "Nov 25 09:00:01 web1 sshd[1]: Accepted password for an from 192.0.2.1 port 2 ssh2"
    (event,) = load_parser("linux.auth").parse(_record(line, timezone="Asia/Ho_Chi_Minh"))
    assert event["@timestamp"] == "2026-11-25T02:00:01.000Z"


def test_unknown_time_zone_is_a_parse_error() -> None:
    line = "Nov 25 09:00:01 web1 sshd[1]: Accepted password for an from 192.0.2.1 port 2 ssh2"
    with pytest.raises(ParseError, match="unknown time zone"):
        load_parser("linux.auth").parse(_record(line, timezone="Mars/Olympus"))
