"""Community ID flow hashing, version 1.

Reference: https://github.com/corelight/community-id-spec (Community ID v1). The hash is
``base64(sha1(seed, saddr, daddr, proto, 0, sport, dport))`` with the endpoints ordered so
that the smaller (address, port) comes first, prefixed by ``1:``.
"""

from __future__ import annotations

import base64
import hashlib
import struct

#: Protocols whose ports enter the hash (ICMP type/code mapping is not implemented).
PORTED_PROTOCOLS = frozenset((6, 17, 132))


def community_id(
    src: bytes, dst: bytes, proto: int, sport: int, dport: int, seed: int = 0
) -> str | None:
    """The Community ID v1 of a flow, or None for protocols without ports."""
    if proto not in PORTED_PROTOCOLS:
        return None
    if (src, sport) > (dst, dport):
        src, dst, sport, dport = dst, src, dport, sport
    digest = hashlib.sha1(
        struct.pack("!H", seed) + src + dst + struct.pack("!BxHH", proto, sport, dport),
        usedforsecurity=False,
    ).digest()
    return "1:" + base64.b64encode(digest).decode("ascii")
