"""Compare our pcap events with tshark's conversation tables and protocol fields.

tshark's ``-z conv,tcp -z conv,udp`` has no timeouts, so our flows are read with
``FlowTimeouts.infinite()`` and both sides are summed per unordered 5-tuple (tshark splits a
TCP 5-tuple that is reused into several conversations, and so do we). tshark prints byte
counts of 10,000 and more rounded to kB/MB, so those are compared at that precision.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.pcap import FlowTimeouts, read_pcap
from collectors.pcap.dhcp import MESSAGE_TYPES
from collectors.pcap.dns import TYPES

#: (transport, endpoint 1, endpoint 2) with the endpoints sorted; endpoint = "addr:port".
ConvKey = tuple[str, str, str]
#: endpoint -> (frames sent, bytes sent) within one conversation.
ConvSides = dict[str, list[int]]

FIELDS = (
    "dns.qry.name",
    "dns.qry.type",
    "dns.flags.response",
    "http.request.method",
    "http.host",
    "http.request.uri",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "tls.handshake.ja3",
    "ssh.protocol",
    "rtsp.method",
    "rtsp.url",
    "dhcp.option.dhcp",
    "dhcp.option.hostname",
)
#: Protocols whose fields are compared, in the order of the table's detail.
PROTOCOLS = ("dns", "http", "tls", "ssh", "rtsp", "dhcp")
#: Packets whose fields are compared; DNS quoted inside ICMP errors is not a DNS message.
DISPLAY_FILTER = (
    "(dns or mdns or llmnr or http.request or tls.handshake.type == 1 or ssh.protocol"
    " or rtsp.request or dhcp) and not icmp and not icmpv6 and not tcp.analysis.retransmission"
)
_CONV_LINE = re.compile(
    r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+) (bytes|kB|MB|GB)\s+(\d+)\s+(\d+) (bytes|kB|MB|GB)\s"
)
_SECTION = re.compile(r"^(TCP|UDP) Conversations")
_UNITS = {"bytes": 1, "kB": 1000, "MB": 1000_000, "GB": 1000_000_000}


@dataclass
class TsharkView:
    """What tshark says about one capture."""

    #: conv key -> endpoint -> [frames, bytes (exact), unit of the printed bytes]
    conversations: dict[ConvKey, dict[str, list[int]]] = field(default_factory=dict)
    #: protocol -> multiset of the compared values of each message
    fields: dict[str, Counter[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: Counter() for name in PROTOCOLS}
    )


def run_tshark(path: Path) -> str:
    """tshark's fields and conversation tables for one capture, as text."""
    command = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-Y",
        DISPLAY_FILTER,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=f",
    ]
    for name in FIELDS:
        command += ["-e", name]
    command += ["-z", "conv,tcp", "-z", "conv,udp"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False).stdout


def _plain(name: str) -> str:
    """A DNS name with each run of non-ASCII bytes as one ``?``.

    tshark shows label bytes decoded as UTF-8 where they happen to be valid (one character for
    several bytes) and U+FFFD elsewhere; we show ``\\xNN`` per byte. Only the ASCII skeleton
    is compared.
    """
    name = re.sub(r"\\x[0-9a-f]{2}", "?", name).replace("\ufffd", "?")
    return re.sub(r"\?+", "?", re.sub(r"[^\x00-\x7f]", "?", name)).lower()


def _endpoint_key(transport: str, one: str, two: str) -> ConvKey:
    low, high = sorted((one, two))
    return transport, low, high


def parse_tshark(text: str) -> TsharkView:
    """The conversations and fields in ``run_tshark`` output."""
    view = TsharkView()
    section = ""
    in_stats = False
    for line in text.splitlines():
        if line.startswith("====="):
            in_stats = True
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1).lower()
            continue
        if in_stats:
            row = _CONV_LINE.match(line)
            if row and section:
                a, b = row.group(1), row.group(2)
                key = _endpoint_key(section, a, b)
                sides = view.conversations.setdefault(key, {a: [0, 0, 1, 0], b: [0, 0, 1, 0]})
                # "<-" is B to A, "->" is A to B.
                for endpoint, frames, size, unit in (
                    (b, row.group(3), row.group(4), row.group(5)),
                    (a, row.group(6), row.group(7), row.group(8)),
                ):
                    sides[endpoint][0] += int(frames)
                    sides[endpoint][1] += int(size) * _UNITS[unit]
                    sides[endpoint][2] = max(sides[endpoint][2], _UNITS[unit])
                    sides[endpoint][3] += 1
            continue
        cells = line.split("\t")
        if len(cells) < len(FIELDS):
            continue
        (
            qname,
            qtype,
            response,
            method,
            host,
            uri,
            hs_type,
            sni,
            ja3,
            ssh,
            rtsp_method,
            rtsp_url,
            dhcp_type,
            hostname,
        ) = cells[: len(FIELDS)]
        found = view.fields
        if qtype:
            found["dns"][(_plain(qname), int(qtype), response in ("1", "True"))] += 1
        if method:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            found["http"][(method, host, uri)] += 1
        if hs_type.split(",")[0] == "1" and ja3:
            found["tls"][(sni, ja3)] += 1
        if ssh:
            found["ssh"][(ssh,)] += 1
        if rtsp_method:
            found["rtsp"][(rtsp_method, rtsp_url)] += 1
        if dhcp_type or hostname:
            kind = MESSAGE_TYPES.get(int(dhcp_type), dhcp_type) if dhcp_type else ""
            found["dhcp"][(kind, hostname)] += 1
    return view


def cached_tshark(path: Path, cache: Any) -> TsharkView:
    """``parse_tshark(run_tshark(path))``, kept in pytest's cache between runs."""
    stat = path.stat()
    query = hashlib.sha1(" ".join((DISPLAY_FILTER, *FIELDS)).encode()).hexdigest()[:10]
    key = f"siem/pcap-tshark/{path.name}-{stat.st_size}-{int(stat.st_mtime)}-{query}"
    text = cache.get(key, None) if cache is not None else None
    if text is None:
        text = run_tshark(path)
        if cache is not None:
            cache.set(key, text)
    return parse_tshark(text)


@dataclass
class OurView:
    """The same quantities from our events."""

    conversations: dict[ConvKey, dict[str, list[int]]] = field(default_factory=dict)
    #: protocol -> multiset of the compared values of each message
    fields: dict[str, Counter[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: Counter() for name in PROTOCOLS}
    )


_TYPE_NUMBERS = {name: number for number, name in TYPES.items()}


def _endpoint(ip: str, port: int) -> str:
    return f"{ip}:{port}"


def our_view(path: Path) -> OurView:
    """Our flows summed per 5-tuple, and our application fields, for one capture."""
    view = OurView()
    found = view.fields
    for event in read_pcap(path, timeouts=FlowTimeouts.infinite()):
        dataset = event["event.dataset"]
        if dataset == "network.flow":
            transport = event["network.transport"]
            if transport not in ("tcp", "udp"):
                continue
            a = _endpoint(event["source.ip"], event["source.port"])
            b = _endpoint(event["destination.ip"], event["destination.port"])
            key = _endpoint_key(transport, a, b)
            sides = view.conversations.setdefault(key, {a: [0, 0], b: [0, 0]})
            sides[a][0] += event["source.packets"]
            sides[a][1] += event["source.bytes"]
            sides[b][0] += event["destination.packets"]
            sides[b][1] += event["destination.bytes"]
        elif dataset == "network.dns" and "dns.question.name" in event:
            qtype = event["dns.question.type"]
            number = int(qtype[4:]) if qtype.startswith("TYPE") else _TYPE_NUMBERS[qtype]
            answer = event["dns.type"] == "answer"
            found["dns"][(_plain(event["dns.question.name"]), number, answer)] += 1
        elif dataset == "network.http":
            protocol = event["network.protocol"]
            if protocol == "rtsp":
                found["rtsp"][(event["http.request.method"], event["url.original"])] += 1
            else:
                domain = event.get("url.domain", "")
                found["http"][(event["http.request.method"], domain, event["url.original"])] += 1
        elif dataset == "network.tls" and "tls.client.ja3" in event:
            found["tls"][(event.get("tls.client.server_name", ""), event["tls.client.ja3"])] += 1
        elif dataset == "network.ssh":
            for banner in (event.get("ssh.client"), event.get("ssh.server")):
                if banner:
                    found["ssh"][(banner,)] += 1
        elif dataset == "network.dhcp" and event["event.action"] != "dhcp-server-seen":
            kind = event.get("dhcp.message_type", "")
            found["dhcp"][(kind, event.get("dhcp.hostname", ""))] += 1
    return view


def _bytes_agree(ours: int, theirs: int, unit: int, rows: int) -> bool:
    """Exact when tshark printed bytes, else within the rounding of each row it printed."""
    if unit == 1:
        return ours == theirs
    return abs(ours - theirs) < unit * max(rows, 1)


@dataclass
class Agreement:
    """Counts of agreeing items for one capture or a group."""

    files: int = 0
    conversations: int = 0
    conversations_total: int = 0
    fields: int = 0
    fields_total: int = 0
    mismatches: list[str] = field(default_factory=list)

    def add(self, other: Agreement) -> None:
        """Add another capture's counts."""
        self.files += other.files
        self.conversations += other.conversations
        self.conversations_total += other.conversations_total
        self.fields += other.fields
        self.fields_total += other.fields_total
        self.mismatches += other.mismatches


def compare(name: str, ours: OurView, theirs: TsharkView) -> Agreement:
    """How far our view of one capture agrees with tshark's."""
    result = Agreement(files=1)
    keys = set(ours.conversations) | set(theirs.conversations)
    result.conversations_total = len(keys)
    for key in sorted(keys):
        mine, other = ours.conversations.get(key), theirs.conversations.get(key)
        good = (
            mine is not None
            and other is not None
            and all(
                mine[end][0] == other[end][0]
                and _bytes_agree(mine[end][1], other[end][1], other[end][2], other[end][3])
                for end in other
            )
        )
        if good:
            result.conversations += 1
        elif len(result.mismatches) < 20:
            result.mismatches.append(f"{name} conv {key}: ours {mine} tshark {other}")
    for label in PROTOCOLS:
        mine_fields, their_fields = ours.fields[label], theirs.fields[label]
        total = max(sum(mine_fields.values()), sum(their_fields.values()))
        common = sum((mine_fields & their_fields).values())
        result.fields_total += total
        result.fields += common
        if common < total and len(result.mismatches) < 40:
            only_ours = list((mine_fields - their_fields).items())[:3]
            only_theirs = list((their_fields - mine_fields).items())[:3]
            result.mismatches.append(
                f"{name} {label}: only ours {only_ours} only tshark {only_theirs}"
            )
    return result


def agreement_table(results: dict[str, Agreement]) -> str:
    """A text table: group, files, conversations agreeing/total, fields agreeing/total."""
    lines = [f"{'group':<12} {'files':>5} {'conversations':>15} {'fields':>13}"]
    total = Agreement()
    for group in sorted(results):
        row = results[group]
        total.add(row)
        lines.append(
            f"{group:<12} {row.files:>5} {row.conversations:>7}/{row.conversations_total:<7} "
            f"{row.fields:>6}/{row.fields_total:<6}"
        )
    lines.append(
        f"{'all':<12} {total.files:>5} {total.conversations:>7}/{total.conversations_total:<7} "
        f"{total.fields:>6}/{total.fields_total:<6}"
    )
    return "\n".join(lines)


def dump(results: dict[str, Agreement]) -> str:
    """Mismatches as JSON (for a failing test's message)."""
    return json.dumps(
        {group: row.mismatches for group, row in results.items() if row.mismatches}, indent=1
    )
