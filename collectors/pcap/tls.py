"""TLS Client Hello and Server Hello fields, with JA3, JA3S and JA4 fingerprints.

References:
- RFC 8446 sections 4.1.2 (ClientHello), 4.1.3 (ServerHello), 4.2 (extensions), 5.1 (records);
  RFC 6066 section 3 (server_name); RFC 7301 (ALPN); RFC 8701 (GREASE values).
- JA3 and JA3S: Salesforce, https://github.com/salesforce/ja3 (README): the decimal fields
  ``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`` joined by ``-``,
  GREASE removed, MD5 of the string.
- JA4: FoxIO, https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md (v0.18):
  ``t13d1516h2_<sha256[:12] of sorted ciphers>_<sha256[:12] of sorted extensions without SNI
  and ALPN, then _ and the signature algorithms in order>``.

ECS choices: ``tls.client.supported_ciphers`` and ``tls.cipher`` hold IANA code points as hex
(``0x1301``), not names; ``tls.version`` is the version the server chose when its Server Hello
was seen, else the highest version the client offered.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

from siem.errors import ParseError

HANDSHAKE = 0x16
CLIENT_HELLO = 1
SERVER_HELLO = 2

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

#: Protocol version -> (ECS ``tls.version_protocol``, ``tls.version``).
VERSIONS = {
    0x0300: ("ssl", "3.0"),
    0x0301: ("tls", "1.0"),
    0x0302: ("tls", "1.1"),
    0x0303: ("tls", "1.2"),
    0x0304: ("tls", "1.3"),
    0x0002: ("ssl", "2.0"),
}
#: Protocol version -> the two characters of JA4's version field.
JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}

_U16 = struct.Struct("!H").unpack_from


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE value (0x0a0a, 0x1a1a, ... 0xfafa)."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


@dataclass(slots=True)
class Hello:
    """The parts of a Client or Server Hello the fingerprints and ECS fields use."""

    version: int
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    alpn: list[bytes] = field(default_factory=list)
    server_name: str | None = None


def record_length(data: bytes) -> int | None:
    """Bytes needed for the first handshake message of a TLS record stream, or None if not TLS."""
    if len(data) < 6 or data[0] != HANDSHAKE or data[1] != 3 or data[2] > 4:
        return None
    if data[5] not in (CLIENT_HELLO, SERVER_HELLO):
        return None
    if len(data) < 9:
        return 9
    return 9 + int.from_bytes(data[6:9], "big")


def handshake_message(data: bytes) -> tuple[int, bytes] | None:
    """``(handshake type, body)`` of the first handshake message, joining records as needed.

    None means more bytes are needed; ParseError means the bytes are not a TLS handshake.
    """
    message = bytearray()
    offset = 0
    while offset + 5 <= len(data):
        if data[offset] != HANDSHAKE:
            raise ParseError("TLS handshake message interrupted by another record type")
        length = _U16(data, offset + 3)[0]
        message += data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if len(message) >= 4 and len(message) >= 4 + int.from_bytes(message[1:4], "big"):
            length = int.from_bytes(message[1:4], "big")
            return message[0], bytes(message[4 : 4 + length])
    return None


def parse_hello(kind: int, body: bytes) -> Hello:
    """Parse a Client Hello (kind 1) or Server Hello (kind 2) body; ParseError if malformed."""
    try:
        return _parse_hello(kind, body)
    except (struct.error, IndexError) as exc:
        raise ParseError(f"TLS hello is malformed: {exc}") from exc


def _parse_hello(kind: int, body: bytes) -> Hello:
    hello = Hello(_U16(body, 0)[0])
    offset = 2 + 32
    session = body[offset]
    offset += 1 + session
    if kind == CLIENT_HELLO:
        size = _U16(body, offset)[0]
        offset += 2
        hello.ciphers = [_U16(body, offset + i)[0] for i in range(0, size - 1, 2)]
        offset += size
        offset += 1 + body[offset]  # compression methods
    else:
        hello.ciphers = [_U16(body, offset)[0]]
        offset += 3
    if offset + 2 > len(body):
        return hello
    end = min(offset + 2 + _U16(body, offset)[0], len(body))
    offset += 2
    while offset + 4 <= end:
        ext, size = struct.unpack_from("!HH", body, offset)
        data = body[offset + 4 : offset + 4 + size]
        offset += 4 + size
        hello.extensions.append(ext)
        if ext == EXT_SERVER_NAME and len(data) >= 5 and data[2] == 0:
            name_len = _U16(data, 3)[0]
            hello.server_name = data[5 : 5 + name_len].decode("ascii", "backslashreplace")
        elif ext == EXT_SUPPORTED_GROUPS and len(data) >= 2:
            hello.groups = [
                _U16(data, i)[0] for i in range(2, min(len(data), 2 + _U16(data, 0)[0]) - 1, 2)
            ]
        elif ext == EXT_POINT_FORMATS and data:
            hello.point_formats = list(data[1 : 1 + data[0]])
        elif ext == EXT_SIGNATURE_ALGORITHMS and len(data) >= 2:
            hello.signature_algorithms = [
                _U16(data, i)[0] for i in range(2, min(len(data), 2 + _U16(data, 0)[0]) - 1, 2)
            ]
        elif ext == EXT_ALPN and len(data) >= 2:
            index = 2
            while index < len(data):
                size_alpn = data[index]
                hello.alpn.append(data[index + 1 : index + 1 + size_alpn])
                index += 1 + size_alpn
        elif ext == EXT_SUPPORTED_VERSIONS:
            if kind == SERVER_HELLO and len(data) >= 2:
                hello.supported_versions = [_U16(data, 0)[0]]
            elif data:
                hello.supported_versions = [
                    _U16(data, i)[0] for i in range(1, min(len(data), 1 + data[0]) - 1, 2)
                ]
    return hello


def _dashed(values: list[int]) -> str:
    return "-".join(str(value) for value in values if not is_grease(value))


def ja3_string(hello: Hello) -> str:
    """JA3 input string of a Client Hello."""
    return ",".join(
        (
            str(hello.version),
            _dashed(hello.ciphers),
            _dashed(hello.extensions),
            _dashed(hello.groups),
            "-".join(str(v) for v in hello.point_formats),
        )
    )


def ja3(hello: Hello) -> str:
    """JA3 fingerprint (MD5 hex) of a Client Hello."""
    return hashlib.md5(ja3_string(hello).encode(), usedforsecurity=False).hexdigest()


def ja3s(hello: Hello) -> str:
    """JA3S fingerprint (MD5 hex of ``version,cipher,extensions``) of a Server Hello."""
    text = ",".join((str(hello.version), _dashed(hello.ciphers), _dashed(hello.extensions)))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"


def _alpn_chars(value: bytes) -> str:
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if (
        chr(first).isascii()
        and chr(first).isalnum()
        and chr(last).isascii()
        and chr(last).isalnum()
    ):
        return chr(first) + chr(last)
    return f"{first:02x}"[0] + f"{last:02x}"[1]


def ja4(hello: Hello, transport: str = "t") -> str:
    """JA4 fingerprint of a Client Hello (``transport``: t TCP, q QUIC, d DTLS)."""
    versions = [v for v in hello.supported_versions if not is_grease(v)]
    version = JA4_VERSIONS.get(max(versions) if versions else hello.version, "00")
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    sni = "d" if EXT_SERVER_NAME in extensions else "i"
    alpn = _alpn_chars(hello.alpn[0]) if hello.alpn else "00"
    part_a = (
        f"{transport}{version}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn}"
    )
    part_b = _sha12(",".join(sorted(f"{c:04x}" for c in ciphers)))
    listed = ",".join(
        sorted(f"{e:04x}" for e in extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
    )
    algorithms = ",".join(f"{s:04x}" for s in hello.signature_algorithms if not is_grease(s))
    part_c = _sha12(f"{listed}_{algorithms}" if listed and algorithms else listed)
    return f"{part_a}_{part_b}_{part_c}"


def client_fields(hello: Hello) -> dict[str, Any]:
    """ECS ``tls.*`` fields of a Client Hello."""
    fields: dict[str, Any] = {
        "tls.client.ja3": ja3(hello),
        "tls.client.ja4": ja4(hello),
        "tls.client.supported_ciphers": [f"0x{c:04x}" for c in hello.ciphers if not is_grease(c)],
    }
    offered = [v for v in hello.supported_versions if not is_grease(v)]
    protocol, version = VERSIONS.get(max(offered) if offered else hello.version, ("tls", "unknown"))
    fields["tls.version_protocol"] = protocol
    fields["tls.version"] = version
    if hello.server_name:
        fields["tls.client.server_name"] = hello.server_name
    if hello.alpn:
        fields["tls.client.alpn"] = [a.decode("ascii", "backslashreplace") for a in hello.alpn]
    return fields


def server_fields(hello: Hello) -> dict[str, Any]:
    """ECS ``tls.*`` fields of a Server Hello (the negotiated version and cipher)."""
    chosen = hello.supported_versions[0] if hello.supported_versions else hello.version
    protocol, version = VERSIONS.get(chosen, ("tls", "unknown"))
    fields: dict[str, Any] = {
        "tls.version_protocol": protocol,
        "tls.version": version,
        "tls.server.ja3s": ja3s(hello),
    }
    if hello.ciphers:
        fields["tls.cipher"] = f"0x{hello.ciphers[0]:04x}"
    return fields
