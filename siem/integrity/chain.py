"""The seal format: canonical row encoding, batch digests and the hash chain (SHA-256).

Pure functions, no I/O: the stores build seals with them and ``siem.integrity.verify``
recomputes them.

Canonical row encoding: the row's values in column order (key column first) as a compact JSON
array, exactly ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))`` encoded in
UTF-8 (RFC 8259; only the escapes JSON requires: quote, backslash, control characters), so text,
integers and NULL stay apart and an auditor can recompute it with any JSON library that writes
the same bytes. Event rows hold no reals (the store keeps text and integers), and orjson, which
writes the same bytes for them ten times faster, encodes them; audit rows and seal headers
(which hold reals: times) use the standard library.

- row hash = SHA-256(canonical encoding of the row, key column first);
- batch digest = SHA-256(``siem-batch\\0`` kind ``\\0`` row hash 1 ... row hash n), rows in key order;
- a stored document (Elasticsearch) is a row ``[index, id, source]`` whose canonical bytes are
  the same compact JSON with object keys sorted (``encode_document``): its row hash and the
  batch digest follow as above;
- chain = SHA-256(``siem-chain\\0`` previous chain (32 zero bytes for the first seal)
  batch digest, canonical encoding of [seal id, kind, first key, last key, row count,
  sealed at, meta JSON]).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

#: The chain value before the first seal.
GENESIS = bytes(32)
#: Seal kinds: a batch of stored events, a run of audit entries, rows removed by retention.
EVENTS = "events"
AUDIT = "audit"
RETENTION = "retention"


@dataclass(frozen=True, slots=True)
class Seal:
    """One link of the chain: which rows it covers, their digest and the chain value."""

    id: int
    kind: str
    first: int
    last: int
    count: int
    sealed_at: float
    meta: str
    digest: bytes
    chain: bytes


def encode_row(values: Sequence[object]) -> bytes:
    """The canonical bytes of a row of text, integers and NULL (no reals): a compact JSON array."""
    try:
        return orjson.dumps(values)
    except (orjson.JSONEncodeError, TypeError):
        return encode_mixed_row(values)  # lone surrogates or huge integers: the reference encoder


def encode_mixed_row(values: Sequence[object]) -> bytes:
    """The canonical bytes of any row (reals too), by the reference encoder (the standard library)."""
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def encode_document(values: Sequence[object]) -> bytes:
    """The canonical bytes of a stored document (Elasticsearch): ``[index, id, source]`` by the
    reference encoder with object keys sorted, so the order a server returns keys in does not count.
    Without reals (where the two differ) orjson writes the same bytes faster."""
    if not _has_real(values):
        try:
            return orjson.dumps(list(values), option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            pass  # lone surrogates, huge integers, keys that are not text: the reference encoder
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8", "surrogatepass")


def _has_real(value: object) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return False
    if isinstance(value, dict):
        return any(_has_real(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_real(item) for item in value)
    return True  # a real, or anything else: the reference encoder decides


def row_hash(canonical: bytes) -> bytes:
    """SHA-256 of one row's canonical bytes."""
    return hashlib.sha256(canonical).digest()


def batch_digest(kind: str, row_hashes: Iterable[bytes]) -> bytes:
    """The digest of a batch: its kind and the hashes of its rows, in key order."""
    digest = hashlib.sha256(b"siem-batch\0" + kind.encode() + b"\0")
    for item in row_hashes:
        digest.update(item)
    return digest.digest()


def link(previous: bytes, seal: Seal) -> bytes:
    """The chain value of ``seal`` after ``previous`` (``seal.chain`` itself is not read)."""
    header = encode_mixed_row((seal.id, seal.kind, seal.first, seal.last, seal.count, seal.sealed_at, seal.meta))
    return hashlib.sha256(b"siem-chain\0" + previous + seal.digest + header).digest()
