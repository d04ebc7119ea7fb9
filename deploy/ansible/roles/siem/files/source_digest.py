"""Print one SHA-256 over the files of a siem checkout that an install depends on.

Used by the siem role to reinstall only when the source changed (idempotent runs).
"""

import hashlib
import sys
from pathlib import Path

PARTS = ("pyproject.toml", "README.md", "cli.py", "siem", "collectors")


def digest(root: Path) -> str:
    """Hash of the relative names and contents of the files under PARTS (no caches)."""
    total = hashlib.sha256()
    for part in PARTS:
        base = root / part
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            total.update(str(path.relative_to(root)).encode() + b"\0")
            total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()


if __name__ == "__main__":
    print(digest(Path(sys.argv[1])))
