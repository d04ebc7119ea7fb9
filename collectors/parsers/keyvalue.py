"""Tokenizer for ``key=value`` logs (FortiOS, Sophos SFOS, Check Point syslog, and others).

Values are bare (up to the next space) or double-quoted with backslash escapes. Keys are
word characters, dots and dashes. Text that is not a pair is skipped.
"""

from __future__ import annotations

import re

# key, then a quoted value (group 2) or a bare one (group 3).
# A key starts where a run of key characters starts (its leading digits, dots and dashes
# skipped), never inside the run: one attempt per run keeps a long run without ``=`` linear.
# The quoted value is written unrolled, ``[^"\\]*(?:\\.[^"\\]*)*`` rather than ``(?:[^"\\]|\\.)*``: the
# same texts, matched a run at a time instead of a character at a time (a third of the time).
_PAIR = re.compile(r'(?<![\w.-])(?:[^\W_A-Za-z]|[.-])*([A-Za-z_][\w.-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^ ]*))')
_ESCAPE = re.compile(r"\\(.)")


def pairs(text: str) -> dict[str, str]:
    """The ``key=value`` pairs of ``text`` (a later duplicate key wins)."""
    result: dict[str, str] = {}
    for key, quoted, bare in _PAIR.findall(text):
        if quoted and "\\" in quoted:
            quoted = _ESCAPE.sub(r"\1", quoted)
        result[key] = quoted or bare
    return result
