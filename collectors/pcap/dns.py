"""DNS messages (also mDNS and LLMNR, which share the format) to ECS ``dns.*`` fields.

References: RFC 1035 sections 4.1 (message format) and 4.1.4 (name compression); RFC 3596
(AAAA); RFC 6891 (OPT); RFC 6762 (mDNS: the top bit of qclass/rrclass is a flag); RFC 4795
(LLMNR); RFC 7766 (DNS over TCP: a two-byte length before each message). Type and response
code names follow the IANA "Domain Name System (DNS) Parameters" registry.

One event per message, as ECS recommends: ``dns.type`` is ``query`` or ``answer``.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from siem.errors import ParseError

TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    59: "CDS",
    60: "CDNSKEY",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    253: "MAILB",
    254: "MAILA",
    255: "ANY",
    256: "URI",
    257: "CAA",
    10: "NULL",
    11: "WKS",
}

RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}

OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}

#: Record counts above this are treated as a damaged or hostile message.
MAX_RECORDS = 512
_HEADER = struct.Struct("!HHHHHH").unpack_from
_RR = struct.Struct("!HHIH").unpack_from


def type_name(value: int) -> str:
    """IANA mnemonic of a record type, or ``TYPE<n>`` (RFC 3597 notation)."""
    return TYPES.get(value) or f"TYPE{value}"


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The domain name at ``offset`` and the offset after it (pointers followed, loops refused)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    size = len(message)
    while True:
        if offset >= size:
            raise ParseError("DNS name runs past the end of the message")
        length = message[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            if offset + 1 >= size:
                raise ParseError("DNS name pointer is cut short")
            if end < 0:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise ParseError("DNS name pointers loop")
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length & 0xC0:
            raise ParseError("DNS name uses an unknown label type")
        label = message[offset + 1 : offset + 1 + length]
        if len(label) < length:
            raise ParseError("DNS label runs past the end of the message")
        labels.append(label.decode("ascii", "backslashreplace"))
        offset += 1 + length
    return ".".join(labels), (end if end >= 0 else offset)


def _rdata(message: bytes, rtype: int, start: int, length: int) -> str:
    data = message[start : start + length]
    if rtype == 1 and length == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and length == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5, 12, 39):
        return read_name(message, start)[0]
    if rtype == 15 and length > 2:
        return f"{struct.unpack_from('!H', data)[0]} {read_name(message, start + 2)[0]}"
    if rtype == 33 and length > 6:
        priority, weight, port = struct.unpack_from("!HHH", data)
        return f"{priority} {weight} {port} {read_name(message, start + 6)[0]}"
    if rtype == 6:
        primary, after = read_name(message, start)
        return f"{primary} {read_name(message, after)[0]}"
    if rtype == 16:
        parts, index = [], 0
        while index < len(data):
            size = data[index]
            parts.append(data[index + 1 : index + 1 + size].decode("utf-8", "backslashreplace"))
            index += 1 + size
        return " ".join(parts)
    return data.hex()


def parse_message(message: bytes) -> dict[str, Any]:
    """ECS fields of one DNS message; raises ParseError when it is not one."""
    if len(message) < 12:
        raise ParseError("DNS message shorter than its 12-byte header")
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER(message)
    if qdcount > MAX_RECORDS or ancount + nscount + arcount > 3 * MAX_RECORDS:
        raise ParseError("DNS record counts are impossible")
    is_answer = bool(flags & 0x8000)
    fields: dict[str, Any] = {
        "dns.id": str(ident),
        "dns.type": "answer" if is_answer else "query",
        "dns.op_code": OPCODES.get((flags >> 11) & 0xF, str((flags >> 11) & 0xF)),
    }
    header_flags = [
        name
        for bit, name in (
            (0x0400, "AA"),
            (0x0200, "TC"),
            (0x0100, "RD"),
            (0x0080, "RA"),
            (0x0020, "AD"),
            (0x0010, "CD"),
        )
        if flags & bit
    ]
    if header_flags:
        fields["dns.header_flags"] = header_flags
    if is_answer:
        fields["dns.response_code"] = RCODES.get(flags & 0xF, str(flags & 0xF))
    offset = 12
    for index in range(qdcount):
        name, offset = read_name(message, offset)
        if offset + 4 > len(message):
            raise ParseError("DNS question is cut short")
        qtype, qclass = struct.unpack_from("!HH", message, offset)
        offset += 4
        if index == 0:
            fields["dns.question.name"] = name
            fields["dns.question.type"] = type_name(qtype)
            fields["dns.question.class"] = "IN" if qclass & 0x7FFF == 1 else str(qclass & 0x7FFF)
    if not is_answer or not ancount:
        return fields
    answers: list[dict[str, Any]] = []
    resolved: list[str] = []
    for _ in range(ancount):
        name, offset = read_name(message, offset)
        if offset + 10 > len(message):
            break  # keep what was read: a truncated answer section still tells something
        rtype, rclass, ttl, length = _RR(message, offset)
        offset += 10
        if offset + length > len(message):
            break
        data = _rdata(message, rtype, offset, length)
        offset += length
        answers.append(
            {
                "name": name,
                "type": type_name(rtype),
                "class": "IN" if rclass & 0x7FFF == 1 else str(rclass & 0x7FFF),
                "ttl": ttl,
                "data": data,
            }
        )
        if rtype in (1, 28):
            resolved.append(data)
    fields["dns.answers"] = answers
    if resolved:
        fields["dns.resolved_ip"] = resolved
    return fields
