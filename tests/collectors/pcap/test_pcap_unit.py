"""Unit tests of the pcap collector on captures built with scapy and written to tmp_path."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, Dot1Q, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap, wrpcapng

from collectors.pcap import (
    ExtractorStats,
    FlowTimeouts,
    PacketMetadataExtractor,
    ReadStats,
    read_pcap,
)
from collectors.pcap.community_id import community_id
from collectors.pcap.tls import CLIENT_HELLO, ja3, ja3_string, ja4, parse_hello
from siem.errors import ParseError

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _at(packet: Packet, when: float) -> Packet:
    packet.time = when
    return packet


def _write(tmp_path: Path, packets: list[Packet], name: str = "t.pcap", **kwargs: Any) -> Path:
    path = tmp_path / name
    wrpcap(str(path), packets, **kwargs)
    return path


def _by_dataset(events: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event.dataset"] == dataset]


def _tcp_session(
    payload_c: bytes, payload_s: bytes, start: float = 1000.0, dport: int = 80
) -> list[Packet]:
    """A whole TCP connection: handshake, one payload each way, FIN both ways."""
    e_c = Ether(src=MAC_C, dst=MAC_S) / IP(src=CLIENT, dst=SERVER)
    e_s = Ether(src=MAC_S, dst=MAC_C) / IP(src=SERVER, dst=CLIENT)
    sport = 40000
    steps = [
        e_c / TCP(sport=sport, dport=dport, flags="S", seq=100),
        e_s / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101),
        e_c / TCP(sport=sport, dport=dport, flags="A", seq=101, ack=501),
        e_c / TCP(sport=sport, dport=dport, flags="PA", seq=101, ack=501) / Raw(payload_c),
        e_s
        / TCP(sport=dport, dport=sport, flags="PA", seq=501, ack=101 + len(payload_c))
        / Raw(payload_s),
        e_c
        / TCP(
            sport=sport, dport=dport, flags="FA", seq=101 + len(payload_c), ack=501 + len(payload_s)
        ),
        e_s
        / TCP(
            sport=dport, dport=sport, flags="FA", seq=501 + len(payload_s), ack=102 + len(payload_c)
        ),
        e_c
        / TCP(
            sport=sport, dport=dport, flags="A", seq=102 + len(payload_c), ack=502 + len(payload_s)
        ),
    ]
    return [_at(p, start + i * 0.01) for i, p in enumerate(steps)]


HTTP_REQUEST = (
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.org:8080\r\nUser-Agent: curl/8.0\r\n\r\n"
)
HTTP_RESPONSE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def test_tcp_flow_counts_state_and_http(tmp_path: Path) -> None:
    packets = _tcp_session(HTTP_REQUEST, HTTP_RESPONSE)
    events = list(read_pcap(_write(tmp_path, packets)))
    (flow,) = _by_dataset(events, "network.flow")
    sizes = [len(bytes(p)) for p in packets]
    assert flow["source.ip"] == CLIENT and flow["source.port"] == 40000
    assert flow["destination.ip"] == SERVER and flow["destination.port"] == 80
    assert flow["source.packets"] == 5 and flow["destination.packets"] == 3
    assert flow["source.bytes"] == sum(sizes[i] for i in (0, 2, 3, 5, 7))
    assert flow["network.bytes"] == sum(sizes)
    assert flow["network.packets"] == 8
    assert flow["flow.tcp.state"] == "SF"
    assert flow["network.protocol"] == "http"
    assert flow["network.transport"] == "tcp"
    assert flow["source.mac"] == "02-00-00-00-00-01"
    assert flow["event.start"] < flow["event.end"]
    assert flow["network.community_id"] == community_id(
        socket.inet_aton(CLIENT), socket.inet_aton(SERVER), 6, 40000, 80
    )
    (http,) = _by_dataset(events, "network.http")
    assert http["http.request.method"] == "GET"
    assert http["url.domain"] == "example.org"
    assert http["url.path"] == "/index.html" and http["url.query"] == "q=1"
    assert http["user_agent.original"] == "curl/8.0"
    assert http["http.response.status_code"] == 404
    assert http["source.ip"] == CLIENT


def test_community_id_published_vector() -> None:
    # The example of the Community ID spec README (TCP 128.232.110.120:34855 -> 66.35.250.204:80).
    src, dst = socket.inet_aton("128.232.110.120"), socket.inet_aton("66.35.250.204")
    assert community_id(src, dst, 6, 34855, 80) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id(dst, src, 6, 80, 34855) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="


def _client_hello(version: int, ciphers: list[int], extensions: list[tuple[int, bytes]]) -> bytes:
    """A ClientHello handshake message (type 1) with the given parts."""
    body = struct.pack("!H", version) + bytes(32) + b"\x00"
    body += struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
    body += b"\x01\x00"
    ext = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in extensions)
    body += struct.pack("!H", len(ext)) + ext
    return b"\x01" + len(body).to_bytes(3, "big") + body


def _u16_list(values: list[int], size_bytes: int = 2) -> bytes:
    data = b"".join(struct.pack("!H", v) for v in values)
    return len(data).to_bytes(size_bytes, "big") + data


def test_ja3_salesforce_example() -> None:
    # README of salesforce/ja3: this string hashes to ada70206e40642a3e4461f35503241d5.
    ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]
    extensions = [
        (0, b"\x00\x0e\x00\x00\x0bexample.org"),
        (10, _u16_list([23, 24, 25])),
        (11, b"\x01\x00"),
    ]
    message = _client_hello(769, ciphers, extensions)
    hello = parse_hello(CLIENT_HELLO, message[4:])
    assert (
        ja3_string(hello) == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    )
    assert ja3(hello) == "ada70206e40642a3e4461f35503241d5"
    assert ja3(hello) == hashlib.md5(ja3_string(hello).encode()).hexdigest()


JA4_CIPHERS = [
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
]
JA4_EXT_ORDER = [
    0x001B,
    0x0000,
    0x0033,
    0x0010,
    0x4469,
    0x0017,
    0x002D,
    0x000D,
    0x0005,
    0x0023,
    0x0012,
    0x002B,
    0xFF01,
    0x000B,
    0x000A,
    0x0015,
]
JA4_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def _ja4_hello(server_name: bytes = b"example.org") -> bytes:
    """The Client Hello of FoxIO's JA4 spec example (with GREASE values added)."""
    data = {
        0x0000: struct.pack("!HBH", len(server_name) + 3, 0, len(server_name)) + server_name,
        0x0010: b"\x00\x0c\x02h2\x08http/1.1",
        0x000D: _u16_list(JA4_SIGALGS),
        0x002B: _u16_list([0x3A3A, 0x0304, 0x0303], 1),
        0x000A: _u16_list([0x1D, 0x17]),
        0x000B: b"\x01\x00",
    }
    extensions = [(0x2A2A, b"")] + [(e, data.get(e, b"")) for e in JA4_EXT_ORDER]
    return _client_hello(0x0303, [0x0A0A, *JA4_CIPHERS], extensions)


def test_ja4_spec_example() -> None:
    hello = parse_hello(CLIENT_HELLO, _ja4_hello()[4:])
    assert ja4(hello) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert hello.server_name == "example.org"


def test_tls_hello_split_across_segments(tmp_path: Path) -> None:
    message = _ja4_hello(b"split.example")
    record = b"\x16\x03\x01" + struct.pack("!H", len(message)) + message
    e_c = Ether() / IP(src=CLIENT, dst=SERVER)
    e_s = Ether() / IP(src=SERVER, dst=CLIENT)
    packets = [
        _at(e_c / TCP(sport=5555, dport=443, flags="S", seq=1), 1.0),
        _at(e_s / TCP(sport=443, dport=5555, flags="SA", seq=9, ack=2), 1.1),
        _at(e_c / TCP(sport=5555, dport=443, flags="PA", seq=2) / Raw(record[:50]), 1.2),
        _at(
            e_c / TCP(sport=5555, dport=443, flags="PA", seq=2) / Raw(record[:50]), 1.25
        ),  # retransmit
        _at(e_c / TCP(sport=5555, dport=443, flags="PA", seq=52) / Raw(record[50:]), 1.3),
    ]
    events = list(read_pcap(_write(tmp_path, packets)))
    (tls,) = _by_dataset(events, "network.tls")
    assert tls["tls.client.server_name"] == "split.example"
    assert tls["tls.client.ja4"] == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert tls["tls.version"] == "1.3"
    assert tls["destination.port"] == 443


def test_timeouts_split_flows(tmp_path: Path) -> None:
    base = Ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=1234, dport=9999) / Raw(b"x")
    times = [0.0, 10.0, 20.0, 100.0, 110.0]
    path = _write(tmp_path, [_at(base.copy(), 1000 + t) for t in times])
    idle = [
        e
        for e in read_pcap(path, timeouts=FlowTimeouts(idle=30.0, active=None))
        if e["event.dataset"] == "network.flow"
    ]
    assert sorted(e["network.packets"] for e in idle) == [2, 3]
    assert {e["flow.end_reason"] for e in idle} == {"idle-timeout", "end-of-capture"}
    active = [
        e
        for e in read_pcap(path, timeouts=FlowTimeouts(idle=None, active=15.0))
        if e["event.dataset"] == "network.flow"
    ]
    assert sorted(e["network.packets"] for e in active) == [1, 2, 2]
    whole = [
        e
        for e in read_pcap(path, timeouts=FlowTimeouts.infinite())
        if e["event.dataset"] == "network.flow"
    ]
    assert [e["network.packets"] for e in whole] == [5]


def test_dns_query_and_answer(tmp_path: Path) -> None:
    query = (
        Ether()
        / IP(src=CLIENT, dst=SERVER)
        / UDP(sport=3333, dport=53)
        / DNS(id=7, rd=1, qd=DNSQR(qname="www.example.org", qtype="AAAA"))
    )
    answer = (
        Ether()
        / IP(src=SERVER, dst=CLIENT)
        / UDP(sport=53, dport=3333)
        / DNS(
            id=7,
            qr=1,
            rcode=0,
            qd=DNSQR(qname="www.example.org", qtype="AAAA"),
            an=DNSRR(rrname="www.example.org", type="AAAA", rdata="2001:db8::1", ttl=60),
        )
    )
    nx = (
        Ether()
        / IP(src=SERVER, dst=CLIENT)
        / UDP(sport=53, dport=3333)
        / DNS(id=8, qr=1, rcode=3, qd=DNSQR(qname="nope.example.org", qtype="A"))
    )
    events = list(read_pcap(_write(tmp_path, [_at(query, 1.0), _at(answer, 1.1), _at(nx, 1.2)])))
    q, a, n = _by_dataset(events, "network.dns")
    assert (q["dns.type"], q["dns.question.name"], q["dns.question.type"]) == (
        "query",
        "www.example.org",
        "AAAA",
    )
    assert a["dns.response_code"] == "NOERROR"
    assert a["dns.answers"] == [
        {"name": "www.example.org", "type": "AAAA", "class": "IN", "ttl": 60, "data": "2001:db8::1"}
    ]
    assert a["dns.resolved_ip"] == ["2001:db8::1"]
    assert n["dns.response_code"] == "NXDOMAIN"
    (flow,) = _by_dataset(events, "network.flow")
    assert (flow["source.packets"], flow["destination.packets"]) == (1, 2)


def _dhcp(server: str, server_mac: str, kind: str, yiaddr: str) -> Packet:
    return (
        Ether(src=server_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=server, dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr=yiaddr, chaddr=bytes.fromhex("020000000001"), xid=0x1234)
        / DHCP(options=[("message-type", kind), ("server_id", server), ("lease_time", 3600), "end"])
    )


def test_dhcp_second_server_is_reported(tmp_path: Path) -> None:
    discover = (
        Ether(src=MAC_C, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, chaddr=bytes.fromhex("020000000001"), xid=0x1234)
        / DHCP(
            options=[
                ("message-type", "discover"),
                ("hostname", b"cam-01"),
                ("requested_addr", "192.168.1.50"),
                "end",
            ]
        )
    )
    packets = [
        _at(discover, 1.0),
        _at(_dhcp("192.168.1.1", MAC_S, "offer", "192.168.1.50"), 1.1),
        _at(_dhcp("192.168.1.66", "02:66:66:66:66:66", "offer", "192.168.1.77"), 1.2),
        _at(_dhcp("192.168.1.1", MAC_S, "ack", "192.168.1.50"), 1.3),
    ]
    events = _by_dataset(list(read_pcap(_write(tmp_path, packets))), "network.dhcp")
    first = events[0]
    assert first["event.action"] == "dhcp-discover"
    assert first["dhcp.hostname"] == "cam-01"
    assert first["dhcp.requested_address"] == "192.168.1.50"
    assert first["client.mac"] == "02-00-00-00-00-01"
    seen = [e for e in events if e["event.action"] == "dhcp-server-seen"]
    assert [e["server.ip"] for e in seen] == ["192.168.1.1", "192.168.1.66"]
    assert seen[-1]["dhcp.server_count"] == 2
    assert seen[-1]["server.mac"] == "02-66-66-66-66-66"
    assert len({e["event.id"] for e in events}) == len(events)
    offers = [e for e in events if e["event.action"] == "dhcp-offer"]
    assert [e["dhcp.assigned_address"] for e in offers] == ["192.168.1.50", "192.168.1.77"]


def test_arp_binding_changes_and_gratuitous(tmp_path: Path) -> None:
    def reply(mac: str, when: float, gratuitous: bool = False) -> Packet:
        target = "192.168.1.10" if gratuitous else "192.168.1.20"
        return _at(
            Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=2, hwsrc=mac, psrc="192.168.1.10", hwdst="00:00:00:00:00:00", pdst=target),
            when,
        )

    packets = [
        reply(MAC_C, 1.0),
        reply(MAC_C, 2.0),
        reply("02:bb:bb:bb:bb:bb", 3.0, gratuitous=True),
    ]
    extractor_stats = ExtractorStats()
    events = list(read_pcap(_write(tmp_path, packets), stats=extractor_stats))
    arp = _by_dataset(events, "network.arp")
    assert [e["event.action"] for e in arp] == ["arp-binding-new", "arp-binding-changed"]
    assert arp[1]["arp.previous_mac"] == "02-00-00-00-00-01"
    assert arp[1]["source.mac"] == "02-BB-BB-BB-BB-BB"
    assert arp[1]["arp.gratuitous"] is True
    assert extractor_stats.gratuitous_arp == 1
    assert not _by_dataset(events, "network.flow")


def test_ssh_banners_paired(tmp_path: Path) -> None:
    packets = _tcp_session(b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-2.0-dropbear_2022.83\r\n")
    (ssh,) = _by_dataset(list(read_pcap(_write(tmp_path, packets))), "network.ssh")
    assert ssh["ssh.client"] == "SSH-2.0-OpenSSH_9.6"
    assert ssh["ssh.server"] == "SSH-2.0-dropbear_2022.83"
    assert ssh["source.ip"] == CLIENT


def test_link_types_vlan_sll_raw_and_pcapng(tmp_path: Path) -> None:
    inner = IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"abc")
    cases: list[tuple[list[Packet], dict[str, int]]] = [
        ([Ether() / Dot1Q(vlan=5) / Dot1Q(vlan=7) / inner], {}),
        ([CookedLinux(proto=0x0800) / inner], {"linktype": 113}),
        ([inner], {"linktype": 101}),
        ([Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2)], {}),
    ]
    for index, (packets, kwargs) in enumerate(cases):
        flows = _by_dataset(
            list(read_pcap(_write(tmp_path, packets, f"{index}.pcap", **kwargs))), "network.flow"
        )
        assert [(f["source.port"], f["destination.port"], f["network.packets"]) for f in flows] == [
            (1, 2, 1)
        ]
    path = tmp_path / "t.pcapng"
    wrpcapng(str(path), _tcp_session(HTTP_REQUEST, HTTP_RESPONSE))
    events = list(read_pcap(path))
    assert _by_dataset(events, "network.flow")[0]["network.packets"] == 8
    assert _by_dataset(events, "network.http")[0]["http.response.status_code"] == 404


def test_event_ids_stable_and_unique(tmp_path: Path) -> None:
    path = _write(tmp_path, _tcp_session(HTTP_REQUEST, HTTP_RESPONSE))
    first = [e["event.id"] for e in read_pcap(path)]
    second = [e["event.id"] for e in read_pcap(path)]
    copy = tmp_path / "copy.pcap"
    copy.write_bytes(path.read_bytes())
    assert first == second == [e["event.id"] for e in read_pcap(copy)]
    assert len(set(first)) == len(first)


def test_truncated_and_damaged_packets_are_counted(tmp_path: Path) -> None:
    good = Ether() / IP(src=CLIENT, dst=SERVER) / TCP(sport=7, dport=8, flags="S")
    packets = [_at(good, 1.0), _at(good, 2.0)]
    path = _write(tmp_path, packets)
    data = bytearray(path.read_bytes())
    # Cut the second record's captured length to 20 bytes (inside the IP header) and append
    # half of a record header: a short packet and a damaged end of file.
    second = 24 + 16 + len(bytes(good))
    data[second + 8 : second + 12] = struct.pack("<I", 20)
    del data[second + 16 + 20 :]
    data += b"\x00" * 10
    path.write_bytes(bytes(data))
    read_stats, stats = ReadStats(), ExtractorStats()
    events = list(read_pcap(path, read_stats=read_stats, stats=stats))
    assert [e["network.packets"] for e in _by_dataset(events, "network.flow")] == [1]
    assert stats.packets == 2 and stats.damaged == 1
    assert read_stats.damaged == 1 and read_stats.errors


def test_hostile_lengths_do_not_crash(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFFFFFF, 1)
    huge = struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"\x00" * 64
    path = tmp_path / "hostile.pcap"
    path.write_bytes(header + huge)
    read_stats = ReadStats()
    assert list(read_pcap(path, read_stats=read_stats)) == []
    assert read_stats.damaged == 1
    extractor = PacketMetadataExtractor()
    frame = bytes(Ether() / IP(src=CLIENT, dst=SERVER, ihl=15) / TCP())
    for cut in range(len(frame) + 1):
        extractor.feed(1.0, 1, frame[:cut])
    extractor.feed(
        1.0, 1, bytes(Ether() / IP(src=CLIENT, dst=SERVER, proto=17, len=0xFFFF) / Raw(b"\xff" * 9))
    )
    extractor.feed(1.0, 9999, b"\x00" * 40)
    extractor.flush()
    assert extractor.stats.packets == len(frame) + 3
    assert extractor.stats.unknown_linktypes == {9999: 1}


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a capture file\n")
    with pytest.raises(ParseError, match="not a pcap or pcapng file"):
        list(read_pcap(text))
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(ParseError):
        list(read_pcap(empty))


def test_extractor_live_feed_and_flush() -> None:
    extractor = PacketMetadataExtractor()
    produced: list[dict[str, Any]] = []
    for packet in _tcp_session(HTTP_REQUEST, HTTP_RESPONSE):
        produced += extractor.feed(float(packet.time), 1, bytes(packet))
    assert [e["event.dataset"] for e in produced] == ["network.http"]
    produced += extractor.flush()
    assert [e["event.dataset"] for e in produced] == ["network.http", "network.flow"]
    assert extractor.flush() == []


def test_deep_mode_names_flow_protocols(tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    # Telnet option negotiation (RFC 854): no fast-path parser knows it, tshark's does.
    path = _write(tmp_path, _tcp_session(b"\xff\xfd\x18\xff\xfd\x20", b"\xff\xfb\x18", dport=23))
    (plain,) = [e for e in read_pcap(path) if e["event.dataset"] == "network.flow"]
    assert "network.protocol" not in plain
    (flow,) = [e for e in read_pcap(path, deep=True) if e["event.dataset"] == "network.flow"]
    assert flow["network.protocol"] == "telnet"


def test_hostile_pcapng_blocks(tmp_path: Path) -> None:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 0) + struct.pack("<I", 20)
    frame = bytes(Ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=2))
    body = struct.pack("<IIIII", 0, 0, 1_000_000, len(frame), len(frame)) + frame
    body += b"\x00" * (-len(body) % 4)
    epb = struct.pack("<II", 6, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    wrong_iface = bytearray(epb)
    wrong_iface[8:12] = struct.pack("<I", 7)  # no such interface
    far_future = bytearray(epb)
    far_future[12:16] = struct.pack("<I", 0xFFFFFFFF)  # timestamp beyond year 9999
    bad_length = struct.pack("<II", 6, 0xFFFFFFF0) + b"\x00" * 16
    path = tmp_path / "hostile.pcapng"
    path.write_bytes(shb + idb + epb + bytes(wrong_iface) + bytes(far_future) + bad_length)
    read_stats, stats = ReadStats(), ExtractorStats()
    events = list(read_pcap(path, read_stats=read_stats, stats=stats))
    assert [e["network.packets"] for e in events] == [1]
    assert read_stats.damaged == 2 and "bad length" in read_stats.errors[0]
    assert stats.damaged == 1


@pytest.mark.corpus
def test_mutated_corpus_pcaps_never_crash(corpus_dir: Path, tmp_path: Path) -> None:
    import random

    rng = random.Random(20261125)
    sources = [
        p for p in sorted((corpus_dir / "pcaps").glob("*/*.pcap*")) if p.stat().st_size < 20_000
    ]
    target = tmp_path / "mutant.pcap"
    events = 0
    for _ in range(300):
        data = bytearray(rng.choice(sources).read_bytes())
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)) :]
        target.write_bytes(bytes(data))
        # A mutation of the file magic gives a clear ParseError, which is the right answer.
        with contextlib.suppress(ParseError):
            events += sum(1 for _ in read_pcap(target))
    assert events > 1000


def test_http_pipelining_interim_response_and_head_split(tmp_path: Path) -> None:
    first = b"POST /upload HTTP/1.1\r\nHost: cam.local\r\nExpect: 100-continue\r\n\r\n"
    second_head = b"GET /status HTTP/1.1\r\nHost: cam.local\r\n"
    second_tail = b"User-Agent: probe/1\r\n\r\n"
    responses = [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 201 Created\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\n\r\n",
    ]
    e_c = Ether() / IP(src=CLIENT, dst=SERVER)
    e_s = Ether() / IP(src=SERVER, dst=CLIENT)
    packets, seq_c, seq_s, when = [], 1, 1, 1.0
    for payload in (first, second_head, second_tail):
        packets.append(
            _at(e_c / TCP(sport=4000, dport=80, flags="PA", seq=seq_c) / Raw(payload), when)
        )
        seq_c, when = seq_c + len(payload), when + 0.1
    for payload in responses:
        packets.append(
            _at(e_s / TCP(sport=80, dport=4000, flags="PA", seq=seq_s) / Raw(payload), when)
        )
        seq_s, when = seq_s + len(payload), when + 0.1
    events = _by_dataset(list(read_pcap(_write(tmp_path, packets))), "network.http")
    assert [
        (e["http.request.method"], e["url.path"], e["http.response.status_code"]) for e in events
    ] == [
        ("POST", "/upload", 201),
        ("GET", "/status", 503),
    ]
    assert events[1]["user_agent.original"] == "probe/1"
    assert events[1]["url.full"] == "http://cam.local/status"
