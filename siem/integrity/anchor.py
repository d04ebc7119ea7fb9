"""Anchors: a seal id and its chain value, kept outside the store to catch truncation and rewrites.

The SQLite store writes one beside its file after each sealed commit (``<store>.seal-head``);
``siem verify --save-anchor FILE`` writes one wherever an officer keeps it (another machine,
removable media), and ``siem verify --anchor FILE`` checks the store against it. The format is
one JSON object: ``{"seal": 42, "chain": "<64 hex digits>", "sealed_at": 1764000000.0}``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from siem.errors import StoreError


@dataclass(frozen=True, slots=True)
class Anchor:
    """A seal id and the chain value the store had at that seal."""

    seal: int
    chain: bytes
    sealed_at: float | None = None

    def to_json(self) -> str:
        """The anchor as one line of JSON."""
        return json.dumps({"seal": self.seal, "chain": self.chain.hex(), "sealed_at": self.sealed_at})


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Write ``anchor`` to ``path`` atomically (a temporary file, then a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(anchor.to_json() + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot write the seal anchor: {exc.strerror}", path=path) from exc


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in ``path``, or None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the seal anchor: {exc.strerror}", path=path) from exc
    try:
        raw = json.loads(text)
        seal, chain, sealed_at = raw["seal"], bytes.fromhex(raw["chain"]), raw.get("sealed_at")
        if not isinstance(seal, int) or len(chain) != 32:
            raise ValueError("bad seal id or chain length")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(
            f"not a seal anchor (expected {{\"seal\": N, \"chain\": HEX}}): {exc}", path=path
        ) from exc
    return Anchor(seal=seal, chain=chain, sealed_at=float(sealed_at) if sealed_at is not None else None)
