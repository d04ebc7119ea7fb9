"""Time zones by IANA name, with one answer for any text a config file or a device may hold."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# IANA names are short words joined by at most a few slashes ("America/Argentina/Buenos_Aires").
# Other texts never reach ZoneInfo: it turns each "/" into a nested package import (thousands of
# them raise RecursionError) or a file path (too long: OSError; a folder: IsADirectoryError).
_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+){0,3}")
_MAX_NAME = 64


def find_zone(name: str) -> ZoneInfo | None:
    """The time zone called ``name``, or None when there is none by that name."""
    if len(name) > _MAX_NAME or _NAME.fullmatch(name) is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
